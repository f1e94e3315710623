// Package fakeruntime is an in-memory runtime.Runtime for tests: containers with states,
// health, logs and events, networks, volumes and images, all kept in memory, and a log of the
// calls that change something. It behaves as the real runtimes do where a test of comp's own
// logic can tell (names are unique, a running container is removed only with force, events
// follow every change), so that a command's run function, the reconciler and the log
// follower are tested without a process or an engine.
package fakeruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Runtime is the fake. Its zero value is not ready: use New.
type Runtime struct {
	mu         sync.Mutex
	containers []*container
	networks   map[string]runtime.Network
	volumes    map[string]runtime.Volume
	images     map[string]runtime.Image // by reference and by ID
	calls      []string
	subs       map[chan runtime.Event]string // subscriber -> project ("" for all)
	nextID     int
	changed    chan struct{} // closed and replaced at every change

	// Fail makes the call named by its key fail with its error, once the call is recorded:
	// "create NAME", "start NAME", "stop NAME", "remove NAME", "pull REF", … as in Calls.
	Fail map[string]error
	// Hold makes the call named by its key wait until the channel is closed (or its ctx ends)
	// before it acts.
	Hold map[string]chan struct{}
	// Caps are the capabilities it reports.
	Caps runtime.Capabilities
	// Refuse, when set, is CheckContainerSpec.
	Refuse func(runtime.ContainerSpec) error
	// Healthy names the containers whose healthcheck passes as soon as they start; any other
	// with a healthcheck starts "starting" until a test Sets its health.
	Healthy map[string]bool
}

type container struct {
	c     runtime.Container
	spec  runtime.ContainerSpec
	lines []runtime.LogLine
}

var _ runtime.Runtime = (*Runtime)(nil)

// New is an empty fake runtime.
func New() *Runtime {
	return &Runtime{networks: map[string]runtime.Network{}, volumes: map[string]runtime.Volume{},
		images: map[string]runtime.Image{}, subs: map[chan runtime.Event]string{}, changed: make(chan struct{}),
		Fail: map[string]error{}, Hold: map[string]chan struct{}{}, Healthy: map[string]bool{}}
}

// AddImage makes ref a local image with the given ID.
func (f *Runtime) AddImage(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := runtime.Image{ID: id, RepoTags: []string{ref}}
	f.images[ref], f.images[id] = img, img
}

// Calls are the calls that changed something, in order: "create web-1", "start web-1",
// "stop web-1", "kill web-1 SIGKILL", "restart web-1", "rename web-1 abc_web-1",
// "remove web-1", "pull busybox", "build img", "create network n", "remove network n",
// "create volume v", "remove volume v", "remove image i". Containers are named by their name
// at the time of the call.
func (f *Runtime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallLog is Calls, one per line.
func (f *Runtime) CallLog() string { return strings.Join(f.Calls(), "\n") }

// Container returns the container named (or with the ID) name.
func (f *Runtime) Container(name string) (runtime.Container, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(name); c != nil {
		return c.snapshot(), true
	}
	return runtime.Container{}, false
}

// Set changes container name as change says, then reports the change as an event of
// action (health_status, die…; none when "").
func (f *Runtime) Set(name, action string, change func(*runtime.Container)) {
	f.mu.Lock()
	c := f.find(name)
	if c == nil {
		f.mu.Unlock()
		panic("fakeruntime: no container " + name)
	}
	change(&c.c)
	ev := runtime.Event{Action: action, Container: c.c.ID, Name: c.c.Name, Labels: c.c.Labels,
		ExitCode: c.c.ExitCode, Health: c.c.Health}
	f.mu.Unlock()
	if action != "" {
		f.publish(ev)
	} else {
		f.notify()
	}
}

// Exit ends container name's process with code, as if it had exited on its own.
func (f *Runtime) Exit(name string, code int) {
	f.Set(name, "die", func(c *runtime.Container) {
		c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, code, time.Now()
	})
}

// Print appends lines to container name's output (stdout).
func (f *Runtime) Print(name string, texts ...string) {
	f.mu.Lock()
	c := f.find(name)
	for _, t := range texts {
		c.lines = append(c.lines, runtime.LogLine{Stream: runtime.Stdout, Time: time.Now(), Text: t})
	}
	f.mu.Unlock()
	f.notify()
}

// WaitCall waits until call has been made (or the deadline passes) and tells whether it was.
func (f *Runtime) WaitCall(call string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		found := slices.Contains(f.calls, call)
		ch := f.changed
		f.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (c *container) snapshot() runtime.Container {
	out := c.c
	out.Labels = maps.Clone(c.c.Labels)
	return out
}

func (f *Runtime) find(idOrName string) *container {
	for _, c := range f.containers {
		if c.c.ID == idOrName || c.c.Name == idOrName {
			return c
		}
	}
	return nil
}

// notify wakes whoever waits for a change.
func (f *Runtime) notify() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *Runtime) publish(ev runtime.Event) {
	ev.Time = time.Now()
	f.mu.Lock()
	var subs []chan runtime.Event
	for ch, project := range f.subs {
		if project == "" || ev.Labels[runtime.LabelProject] == project {
			subs = append(subs, ch)
		}
	}
	f.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- ev:
		default: // a subscriber that does not read loses events, as with a slow engine
		}
	}
	f.notify()
}

// call records a call, waits while it is held, and returns the error it is made to fail with.
func (f *Runtime) call(ctx context.Context, format string, args ...any) error {
	name := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.calls = append(f.calls, name)
	hold := f.Hold[name]
	err := f.Fail[name]
	f.mu.Unlock()
	f.notify()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// lookup finds a container or gives the runtime's not-found error for op.
func (f *Runtime) lookup(op, id string) (*container, error) {
	c := f.find(id)
	if c == nil {
		return nil, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("%s container %s: no such container", op, id))
	}
	return c, nil
}

// Name is "fake".
func (f *Runtime) Name() string { return "fake" }

// Info describes the fake.
func (f *Runtime) Info(context.Context) (runtime.Info, error) {
	return runtime.Info{Runtime: "fake", ServerVersion: "0"}, nil
}

// Capabilities are f.Caps.
func (f *Runtime) Capabilities() runtime.Capabilities { return f.Caps }

// Close does nothing.
func (f *Runtime) Close() error { return nil }

// Recover records the call.
func (f *Runtime) Recover(ctx context.Context, project string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "recover "+project)
	return nil
}

// LockProject holds nothing.
func (f *Runtime) LockProject(context.Context, string) (func(), error) { return func() {}, nil }

// CheckContainerSpec is f.Refuse, or accepts.
func (f *Runtime) CheckContainerSpec(spec runtime.ContainerSpec) error {
	if f.Refuse != nil {
		return f.Refuse(spec)
	}
	return nil
}

// CheckNetworkSpec accepts every network.
func (f *Runtime) CheckNetworkSpec(runtime.NetworkSpec) error { return nil }

// CheckBuildSpec accepts every build.
func (f *Runtime) CheckBuildSpec(runtime.BuildSpec) error { return nil }

// ListContainers lists the containers opts selects, as the engines do.
func (f *Runtime) ListContainers(_ context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Container
	for _, c := range f.containers {
		if !opts.Match(c.c.Labels) {
			continue
		}
		if !opts.All && c.c.State != runtime.StateRunning && c.c.State != runtime.StateRestarting {
			continue
		}
		out = append(out, c.snapshot())
	}
	return out, nil
}

// InspectContainer returns a container by ID or name.
func (f *Runtime) InspectContainer(_ context.Context, idOrName string) (runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup("inspect", idOrName)
	if err != nil {
		return runtime.Container{}, err
	}
	return c.snapshot(), nil
}

// CreateContainer creates a container of a local image under a free name.
func (f *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := f.call(ctx, "create %s", spec.Name); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(spec.Name) != nil {
		return "", runtime.Classify(runtime.ErrConflict, fmt.Errorf("create container %s: the name is in use", spec.Name))
	}
	img, ok := f.images[spec.Image]
	if !ok {
		return "", runtime.Classify(runtime.ErrNotFound, fmt.Errorf("create container %s: no such image: %s", spec.Name, spec.Image))
	}
	f.nextID++
	id := fmt.Sprintf("%064x", f.nextID)
	c := &container{spec: spec, c: runtime.Container{ID: id, Name: spec.Name, Image: spec.Image, ImageID: img.ID,
		Labels: maps.Clone(spec.Labels), State: runtime.StateCreated, Created: time.Now(), Restart: spec.Restart,
		Command: strings.Join(spec.Command, " ")}}
	if c.c.Restart.Name == "" {
		c.c.Restart.Name = "no"
	}
	f.containers = append(f.containers, c)
	go f.publish(runtime.Event{Action: "create", Container: id, Name: spec.Name, Labels: c.c.Labels})
	return id, nil
}

// StartContainer starts a created or stopped container; one with a healthcheck starts with
// health "starting".
func (f *Runtime) StartContainer(ctx context.Context, id string) error {
	name := f.nameOf(id)
	if err := f.call(ctx, "start %s", name); err != nil {
		return err
	}
	return f.change("start", id, func(c *container) error {
		c.c.State, c.c.StartedAt, c.c.ExitCode = runtime.StateRunning, time.Now(), 0
		if c.spec.Healthcheck != nil && (len(c.spec.Healthcheck.Test) == 0 || c.spec.Healthcheck.Test[0] != "NONE") {
			c.c.Health = runtime.HealthStarting
			if f.Healthy[c.c.Name] {
				c.c.Health = runtime.HealthHealthy
			}
		}
		return nil
	})
}

// StopContainer stops a running container (exit code 0, as after a handled SIGTERM).
func (f *Runtime) StopContainer(ctx context.Context, id string, _ *time.Duration) error {
	if err := f.call(ctx, "stop %s", f.nameOf(id)); err != nil {
		return err
	}
	return f.change("die", id, func(c *container) error {
		if c.c.State == runtime.StateRunning {
			c.c.State, c.c.ExitCode, c.c.FinishedAt = runtime.StateExited, 0, time.Now()
		}
		return nil
	})
}

// KillContainer kills a running container (exit code 128+9 for SIGKILL, else 128+15).
func (f *Runtime) KillContainer(ctx context.Context, id, signal string) error {
	if err := f.call(ctx, "kill %s %s", f.nameOf(id), signal); err != nil {
		return err
	}
	return f.change("die", id, func(c *container) error {
		if c.c.State != runtime.StateRunning {
			return runtime.Classify(runtime.ErrConflict, fmt.Errorf("kill container %s: it is not running", c.c.Name))
		}
		code := 143
		if signal == "SIGKILL" || signal == "KILL" || signal == "9" {
			code = 137
		}
		c.c.State, c.c.ExitCode, c.c.FinishedAt = runtime.StateExited, code, time.Now()
		return nil
	})
}

// RestartContainer stops and starts a container.
func (f *Runtime) RestartContainer(ctx context.Context, id string, _ *time.Duration) error {
	if err := f.call(ctx, "restart %s", f.nameOf(id)); err != nil {
		return err
	}
	return f.change("start", id, func(c *container) error {
		c.c.State, c.c.StartedAt, c.c.ExitCode = runtime.StateRunning, time.Now(), 0
		return nil
	})
}

// RemoveContainer removes a container; a running one only with Force.
func (f *Runtime) RemoveContainer(ctx context.Context, id string, opts runtime.RemoveOptions) error {
	if err := f.call(ctx, "remove %s", f.nameOf(id)); err != nil {
		return err
	}
	f.mu.Lock()
	c, err := f.lookup("remove", id)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if c.c.State == runtime.StateRunning && !opts.Force {
		f.mu.Unlock()
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("remove container %s: it is running", c.c.Name))
	}
	f.containers = slices.DeleteFunc(f.containers, func(x *container) bool { return x == c })
	ev := runtime.Event{Action: "destroy", Container: c.c.ID, Name: c.c.Name, Labels: c.c.Labels}
	f.mu.Unlock()
	f.publish(ev)
	return nil
}

// RenameContainer renames a container to a free name.
func (f *Runtime) RenameContainer(ctx context.Context, id, newName string) error {
	if err := f.call(ctx, "rename %s %s", f.nameOf(id), newName); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(newName) != nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("rename container %s: %s is in use", id, newName))
	}
	c, err := f.lookup("rename", id)
	if err != nil {
		return err
	}
	c.c.Name = newName
	return nil
}

// WaitContainer waits until the container is not running and returns its exit code.
func (f *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	for {
		f.mu.Lock()
		c, err := f.lookup("wait for", id)
		ch := f.changed
		var state string
		var code int
		if err == nil {
			state, code = c.c.State, c.c.ExitCode
		}
		f.mu.Unlock()
		if err != nil {
			return -1, err
		}
		if state != runtime.StateRunning && state != runtime.StateRestarting && state != runtime.StateCreated {
			return code, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

// Logs writes the container's output; with Follow, what it prints until it stops.
func (f *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, sink func(runtime.LogLine)) error {
	sent := 0
	for first := true; ; first = false {
		f.mu.Lock()
		c, err := f.lookup("logs of", id)
		if err != nil {
			f.mu.Unlock()
			return err
		}
		lines := slices.Clone(c.lines[sent:])
		if first && opts.Tail >= 0 && len(lines) > opts.Tail {
			sent += len(lines) - opts.Tail
			lines = lines[len(lines)-opts.Tail:]
		}
		running := c.c.State == runtime.StateRunning || c.c.State == runtime.StateRestarting || c.c.State == runtime.StateCreated
		ch := f.changed
		f.mu.Unlock()
		for _, l := range lines {
			if (opts.Since.IsZero() || !l.Time.Before(opts.Since)) && (opts.Until.IsZero() || l.Time.Before(opts.Until)) {
				sink(l)
			}
		}
		sent += len(lines)
		if !opts.Follow || !running {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// Attach streams what the container prints from now on until it stops.
func (f *Runtime) Attach(ctx context.Context, id string, streams runtime.AttachStreams) (func() error, error) {
	f.mu.Lock()
	c, err := f.lookup("attach to", id)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	since := len(c.lines)
	f.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		if streams.Stdin != nil {
			go io.Copy(io.Discard, streams.Stdin)
		}
		sent := since
		for {
			f.mu.Lock()
			c := f.find(id)
			if c == nil {
				f.mu.Unlock()
				done <- nil
				return
			}
			lines := slices.Clone(c.lines[sent:])
			started := c.c.State != runtime.StateCreated
			running := c.c.State == runtime.StateRunning || c.c.State == runtime.StateRestarting
			ch := f.changed
			f.mu.Unlock()
			for _, l := range lines {
				if streams.Stdout != nil {
					fmt.Fprintln(streams.Stdout, l.Text)
				}
			}
			sent += len(lines)
			if started && !running {
				done <- nil
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				done <- ctx.Err()
				return
			}
		}
	}()
	return func() error { return <-done }, nil
}

// AttachOutput is not implemented unless Caps.AttachOutput.
func (f *Runtime) AttachOutput(ctx context.Context, id string) (func(sink func(runtime.LogLine)) error, error) {
	if !f.Caps.AttachOutput {
		return nil, runtime.Classify(runtime.ErrNotImplemented, errors.New("attach output: not in this fake"))
	}
	return func(sink func(runtime.LogLine)) error {
		return f.Logs(ctx, id, runtime.LogOptions{Follow: true, Tail: 0}, sink)
	}, nil
}

// ResizeTerminal records the call.
func (f *Runtime) ResizeTerminal(ctx context.Context, id string, width, height uint16) error {
	return f.call(ctx, "resize %s %dx%d", f.nameOf(id), width, height)
}

// Exec records the call and exits 0.
func (f *Runtime) Exec(ctx context.Context, id string, spec runtime.ExecSpec) (int, error) {
	return 0, f.call(ctx, "exec %s %s", f.nameOf(id), strings.Join(spec.Cmd, " "))
}

// Top lists one process.
func (f *Runtime) Top(_ context.Context, id string) (runtime.Top, error) {
	return runtime.Top{Titles: []string{"PID", "CMD"}, Processes: [][]string{{"1", "sleep " + id}}}, nil
}

// ListNetworks lists the networks opts selects.
func (f *Runtime) ListNetworks(_ context.Context, opts runtime.ListOptions) ([]runtime.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Network
	for _, n := range f.networks {
		if opts.Match(n.Labels) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b runtime.Network) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectNetwork returns a network by name.
func (f *Runtime) InspectNetwork(_ context.Context, name string) (runtime.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.networks[name]; ok {
		return n, nil
	}
	return runtime.Network{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("inspect network %s: not found", name))
}

// CreateNetwork creates a network under a free name.
func (f *Runtime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error) {
	if err := f.call(ctx, "create network %s", spec.Name); err != nil {
		return runtime.Network{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.networks[spec.Name]; ok {
		return runtime.Network{}, runtime.Classify(runtime.ErrConflict, fmt.Errorf("create network %s: it exists", spec.Name))
	}
	n := runtime.Network{ID: spec.Name, Name: spec.Name, Driver: "bridge", Labels: maps.Clone(spec.Labels), Internal: spec.Internal}
	f.networks[spec.Name] = n
	return n, nil
}

// RemoveNetwork removes a network.
func (f *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	if err := f.call(ctx, "remove network %s", name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.networks[name]; !ok {
		return runtime.Classify(runtime.ErrNotFound, fmt.Errorf("remove network %s: not found", name))
	}
	delete(f.networks, name)
	return nil
}

// ListVolumes lists the volumes opts selects.
func (f *Runtime) ListVolumes(_ context.Context, opts runtime.ListOptions) ([]runtime.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Volume
	for _, v := range f.volumes {
		if opts.Match(v.Labels) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b runtime.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectVolume returns a volume by name.
func (f *Runtime) InspectVolume(_ context.Context, name string) (runtime.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.volumes[name]; ok {
		return v, nil
	}
	return runtime.Volume{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("inspect volume %s: not found", name))
}

// CreateVolume creates a volume; one that exists is a conflict.
func (f *Runtime) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error) {
	if err := f.call(ctx, "create volume %s", spec.Name); err != nil {
		return runtime.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.volumes[spec.Name]; ok {
		return runtime.Volume{}, runtime.Classify(runtime.ErrConflict, fmt.Errorf("create volume %s: it exists", spec.Name))
	}
	v := runtime.Volume{Name: spec.Name, Driver: "local", Labels: maps.Clone(spec.Labels), CreatedAt: time.Now()}
	f.volumes[spec.Name] = v
	return v, nil
}

// RemoveVolume removes a volume.
func (f *Runtime) RemoveVolume(ctx context.Context, name string, _ bool) error {
	if err := f.call(ctx, "remove volume %s", name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, name)
	return nil
}

// ListImages lists the local images.
func (f *Runtime) ListImages(context.Context) ([]runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	var out []runtime.Image
	for _, img := range f.images {
		if !seen[img.ID] {
			seen[img.ID] = true
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b runtime.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// InspectImage returns a local image by reference or ID.
func (f *Runtime) InspectImage(_ context.Context, ref string) (runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	return runtime.Image{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("inspect image %s: no such image", ref))
}

// PullImage makes ref a local image (with a new ID each time, as a registry's newer image).
func (f *Runtime) PullImage(ctx context.Context, ref string, _ func(runtime.PullProgress)) error {
	if err := f.call(ctx, "pull %s", ref); err != nil {
		return err
	}
	f.mu.Lock()
	f.nextID++
	id := fmt.Sprintf("sha256:%064x", f.nextID)
	f.mu.Unlock()
	f.AddImage(ref, id)
	return nil
}

// RemoveImage removes a local image.
func (f *Runtime) RemoveImage(ctx context.Context, ref string, _ bool) error {
	if err := f.call(ctx, "remove image %s", ref); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, ref)
	return nil
}

// PruneImages removes nothing.
func (f *Runtime) PruneImages(context.Context) ([]string, error) { return nil, nil }

// LoadImages is not implemented.
func (f *Runtime) LoadImages(context.Context, io.Reader) ([]runtime.Image, error) {
	return nil, runtime.Classify(runtime.ErrNotImplemented, errors.New("load images: not in this fake"))
}

// BuildImage makes the first tag a local image.
func (f *Runtime) BuildImage(ctx context.Context, spec runtime.BuildSpec, _ func(runtime.BuildProgress)) (string, error) {
	ref := ""
	if len(spec.Tags) > 0 {
		ref = spec.Tags[0]
	}
	if err := f.call(ctx, "build %s", ref); err != nil {
		return "", err
	}
	f.mu.Lock()
	f.nextID++
	id := fmt.Sprintf("sha256:%064x", f.nextID)
	f.mu.Unlock()
	for _, tag := range spec.Tags {
		f.AddImage(tag, id)
	}
	return id, nil
}

// Events streams the events of project ("" for all) until ctx ends.
func (f *Runtime) Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error) {
	in := make(chan runtime.Event, 64)
	out := make(chan runtime.Event)
	errs := make(chan error)
	f.mu.Lock()
	f.subs[in] = project
	f.mu.Unlock()
	go func() {
		defer close(out)
		defer close(errs)
		defer func() {
			f.mu.Lock()
			delete(f.subs, in)
			f.mu.Unlock()
		}()
		for {
			select {
			case ev := <-in:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errs
}

// nameOf is the name of container id now, or id.
func (f *Runtime) nameOf(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(id); c != nil {
		return c.c.Name
	}
	return id
}

// change applies fn to container id and reports action.
func (f *Runtime) change(action, id string, fn func(*container) error) error {
	f.mu.Lock()
	c, err := f.lookup(action, id)
	if err == nil {
		err = fn(c)
	}
	var ev runtime.Event
	if err == nil {
		ev = runtime.Event{Action: action, Container: c.c.ID, Name: c.c.Name, Labels: c.c.Labels, ExitCode: c.c.ExitCode}
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.publish(ev)
	return nil
}
