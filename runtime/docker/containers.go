package docker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/comp-dev/comp/runtime"
)

// inspectConcurrency bounds the inspects ListContainers runs at once.
const inspectConcurrency = 8

// ListContainers lists the containers selected by opts, each fully inspected.
func (r *Runtime) ListContainers(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	summaries, err := r.cli.ContainerList(ctx, container.ListOptions{
		All:     opts.All,
		Filters: labelFilters(opts.Project, opts.Labels),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", classify(err))
	}

	out := make([]runtime.Container, len(summaries))
	found := make([]bool, len(summaries))
	errs := make([]error, len(summaries))
	sem := make(chan struct{}, inspectConcurrency)
	var wg sync.WaitGroup
	for i, s := range summaries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := r.cli.ContainerInspect(ctx, s.ID)
			if err != nil {
				// A container removed since the list is no longer there: not an error.
				if err := classify(err); !isNotFound(err) {
					errs[i] = fmt.Errorf("inspect container %s: %w", s.ID, err)
				}
				return
			}
			out[i], found[i] = containerFromInspect(c), true
		}()
	}
	wg.Wait()

	list := out[:0]
	for i := range out {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if found[i] {
			list = append(list, out[i])
		}
	}
	return list, nil
}

// InspectContainer returns one container by ID or name.
func (r *Runtime) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	c, err := r.cli.ContainerInspect(ctx, idOrName)
	if err != nil {
		return runtime.Container{}, fmt.Errorf("inspect container %s: %w", idOrName, classify(err))
	}
	return containerFromInspect(c), nil
}

// StartContainer starts a created or stopped container, then runs its post_start hooks. A
// published port that is taken gives runtime.ErrConflict with the engine's message.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	in, err := r.inspectForHooks(ctx, "start", id)
	if err != nil {
		return err
	}
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", in.name, classify(err))
	}
	if in.running {
		return nil // started before: its hooks ran then
	}
	return r.postStart(ctx, "start", id, in)
}

// ResizeTerminal sets the size of a running container's terminal.
func (r *Runtime) ResizeTerminal(ctx context.Context, id string, width, height uint16) error {
	opts := container.ResizeOptions{Width: uint(width), Height: uint(height)}
	if err := r.cli.ContainerResize(ctx, id, opts); err != nil {
		return fmt.Errorf("resize the terminal of container %s: %w", id, classify(err))
	}
	return nil
}

// StopContainer runs the container's pre_stop hooks, sends the stop signal, waits up to
// timeout (nil: the container's own stop timeout, else 10s), then kills.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	in, err := r.inspectForHooks(ctx, "stop", id)
	if err != nil {
		return err
	}
	if err := r.preStop(ctx, "stop", id, in); err != nil {
		return err
	}
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: seconds(timeout)}); err != nil {
		return fmt.Errorf("stop container %s: %w", in.name, classify(err))
	}
	return nil
}

// KillContainer sends signal (SIGKILL when empty) to the container's main process.
func (r *Runtime) KillContainer(ctx context.Context, id string, signal string) error {
	if err := r.cli.ContainerKill(ctx, id, signal); err != nil {
		return fmt.Errorf("kill container %s: %w", r.describe(ctx, id), classify(err))
	}
	return nil
}

// RestartContainer stops the container as StopContainer does, then starts it as
// StartContainer does, hooks included.
func (r *Runtime) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	in, err := r.inspectForHooks(ctx, "restart", id)
	if err != nil {
		return err
	}
	if err := r.preStop(ctx, "restart", id, in); err != nil {
		return err
	}
	if err := r.cli.ContainerRestart(ctx, id, container.StopOptions{Timeout: seconds(timeout)}); err != nil {
		return fmt.Errorf("restart container %s: %w", in.name, classify(err))
	}
	return r.postStart(ctx, "restart", id, in)
}

// RemoveContainer removes a container; Force kills a running one first, Volumes removes its
// anonymous volumes.
func (r *Runtime) RemoveContainer(ctx context.Context, id string, opts runtime.RemoveOptions) error {
	err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: opts.Force, RemoveVolumes: opts.Volumes})
	if err != nil {
		return fmt.Errorf("remove container %s: %w", r.describe(ctx, id), classify(err))
	}
	return nil
}

// RenameContainer gives a container a new name.
func (r *Runtime) RenameContainer(ctx context.Context, id string, newName string) error {
	if err := r.cli.ContainerRename(ctx, id, newName); err != nil {
		return fmt.Errorf("rename container %s to %s: %w", r.describe(ctx, id), newName, classify(err))
	}
	return nil
}

// WaitContainer blocks until the container is not running and returns its exit code.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	resc, errc := r.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-resc:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("wait for container %s: %s", id, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-errc:
		return 0, fmt.Errorf("wait for container %s: %w", id, classify(err))
	}
}

// Top lists the processes running in a container.
func (r *Runtime) Top(ctx context.Context, id string) (runtime.Top, error) {
	top, err := r.cli.ContainerTop(ctx, id, nil)
	if err != nil {
		return runtime.Top{}, fmt.Errorf("list processes of container %s: %w", id, classify(err))
	}
	return runtime.Top{Titles: top.Titles, Processes: top.Processes}, nil
}

// seconds converts a timeout to the whole seconds the engine takes, rounding up.
func seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(math.Ceil(d.Seconds()))
	return &s
}

// containerFromInspect converts the engine's view of a container to runtime.Container.
func containerFromInspect(c container.InspectResponse) runtime.Container {
	out := runtime.Container{}
	if c.ContainerJSONBase != nil {
		out.ID = c.ID
		out.Name = strings.TrimPrefix(c.Name, "/")
		out.ImageID = c.Image
		out.Command = strings.Join(append([]string{c.Path}, c.Args...), " ")
		out.RestartCount = c.RestartCount
		out.Created = parseTime(c.Created)
		if s := c.State; s != nil {
			out.State = string(s.Status)
			out.ExitCode = s.ExitCode
			out.StartedAt = parseTime(s.StartedAt)
			out.FinishedAt = parseTime(s.FinishedAt)
			if s.Health != nil {
				out.Health = string(s.Health.Status)
			}
		}
	}
	if c.Config != nil {
		out.Image = c.Config.Image
		out.Labels = c.Config.Labels
	}
	if c.HostConfig != nil {
		out.Restart = runtime.RestartPolicy{Name: string(c.HostConfig.RestartPolicy.Name), MaxRetries: c.HostConfig.RestartPolicy.MaximumRetryCount}
		if out.Restart.Name == "" {
			out.Restart.Name = "no" // the engine's default
		}
	}
	if c.NetworkSettings != nil {
		out.Ports = portsFromMap(c.NetworkSettings.Ports)
		if len(c.NetworkSettings.Networks) > 0 {
			out.Networks = make(map[string]runtime.ContainerNetwork, len(c.NetworkSettings.Networks))
			for name, ep := range c.NetworkSettings.Networks {
				if ep == nil {
					continue
				}
				out.Networks[name] = runtime.ContainerNetwork{
					NetworkID: ep.NetworkID,
					IPAddress: ep.IPAddress,
					Aliases:   ep.Aliases,
				}
			}
		}
	}
	if len(out.Ports) == 0 && c.Config != nil {
		// A container that is not running has no bindings: report what it exposes.
		out.Ports = portsFromSet(c.Config.ExposedPorts)
	}
	for _, m := range c.Mounts {
		mnt := runtime.Mount{
			Type:     string(m.Type),
			Source:   m.Source,
			Target:   m.Destination,
			ReadOnly: !m.RW,
		}
		if m.Type == "volume" {
			mnt.Source = m.Name
		}
		out.Mounts = append(out.Mounts, mnt)
	}
	return out
}

// portsFromMap lists the ports of a running container: one per host binding, or one with
// HostPort 0 for a port that is only exposed.
func portsFromMap(pm nat.PortMap) []runtime.Port {
	var ports []runtime.Port
	for p, bindings := range pm {
		cp := uint16(p.Int())
		if len(bindings) == 0 {
			ports = append(ports, runtime.Port{ContainerPort: cp, Protocol: p.Proto()})
			continue
		}
		for _, b := range bindings {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			ports = append(ports, runtime.Port{HostIP: b.HostIP, HostPort: uint16(hp), ContainerPort: cp, Protocol: p.Proto()})
		}
	}
	sortPorts(ports)
	return ports
}

// portsFromSet lists exposed ports with no host binding.
func portsFromSet(ps nat.PortSet) []runtime.Port {
	var ports []runtime.Port
	for p := range ps {
		ports = append(ports, runtime.Port{ContainerPort: uint16(p.Int()), Protocol: p.Proto()})
	}
	sortPorts(ports)
	return ports
}

func sortPorts(ports []runtime.Port) {
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
}

// parseTime parses the engine's RFC 3339 times; the engine's zero time and bad input give the
// zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// describe names container id for an error message: by its name when the engine still knows
// it (comp passes IDs, users know names), else as given. It costs a call only on failure.
func (r *Runtime) describe(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil || c.ContainerJSONBase == nil || c.Name == "" {
		return id
	}
	return strings.TrimPrefix(c.Name, "/")
}
