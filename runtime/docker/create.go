package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/comp-dev/comp/runtime"
)

// CreateContainer creates (but does not start) a container and returns its ID. It is
// connected to every network of spec.Networks, highest Priority first, before it returns; if a
// connection fails the container is removed again.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	name := spec.Name
	if name == "" {
		name = spec.Image
	}
	if err := r.checkKnobs(spec); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	cfg, host, err := r.containerConfig(spec)
	if err != nil {
		return "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("create container %s: %w", name, err))
	}
	if cfg.Labels, err = withHooksLabel(spec); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}

	attachments := sortedAttachments(spec.Networks)
	var netCfg *network.NetworkingConfig
	if spec.NetworkMode == (runtime.Namespace{}) && len(attachments) > 0 {
		// Before API 1.44 the engine takes a single endpoint at create: the primary one.
		primary := attachments[0]
		host.NetworkMode = container.NetworkMode(primary.Network)
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			primary.Network: r.endpointSettings(primary, spec.Links),
		}}
		if !r.apiAtLeast("1.44") {
			// The container-wide MAC address applies to the primary endpoint.
			if cfg.MacAddress == "" { //nolint:staticcheck // needed before API 1.44
				cfg.MacAddress = primary.MacAddress //nolint:staticcheck // needed before API 1.44
			}
		} else if spec.MacAddress != "" && netCfg.EndpointsConfig[primary.Network].MacAddress == "" {
			netCfg.EndpointsConfig[primary.Network].MacAddress = spec.MacAddress
		}
	}

	resp, err := r.cli.ContainerCreate(ctx, cfg, host, netCfg, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, classify(err))
	}
	if err := discardedSettings(resp.Warnings); err != nil {
		// The engine made the container without a setting it was given: undo it.
		err = fmt.Errorf("create container %s: %w", name, err)
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rmErr := r.cli.ContainerRemove(cleanup, resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); rmErr != nil {
			return "", errors.Join(err, fmt.Errorf("remove container %s: %w", name, classify(rmErr)))
		}
		return "", err
	}

	// Do not leave a half-made container behind; use a fresh context so that a cancelled ctx
	// still cleans up.
	undo := func(err error) error {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rmErr := r.cli.ContainerRemove(cleanup, resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if rmErr != nil {
			return errors.Join(err, fmt.Errorf("remove container %s: %w", name, classify(rmErr)))
		}
		return err
	}
	if spec.NetworkMode == (runtime.Namespace{}) && len(attachments) > 1 {
		for _, a := range attachments[1:] {
			if err := r.cli.NetworkConnect(ctx, a.Network, resp.ID, r.endpointSettings(a, spec.Links)); err != nil {
				return "", undo(fmt.Errorf("create container %s: connect to network %s: %w", name, a.Network, classify(err)))
			}
		}
	}
	if err := r.copyFiles(ctx, resp.ID, spec.Files); err != nil {
		return "", undo(fmt.Errorf("create container %s: %w", name, err))
	}
	return resp.ID, nil
}

// sortedAttachments orders attachments by descending Priority, keeping the given order among
// equals.
func sortedAttachments(in []runtime.NetworkAttachment) []runtime.NetworkAttachment {
	out := append([]runtime.NetworkAttachment(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority > out[j].Priority })
	return out
}

// endpointSettings is the engine's endpoint configuration for one attachment.
func (r *Runtime) endpointSettings(a runtime.NetworkAttachment, links []string) *network.EndpointSettings {
	ep := &network.EndpointSettings{Aliases: a.Aliases, Links: links}
	if a.IPv4Address != "" || a.IPv6Address != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IPv4Address, IPv6Address: a.IPv6Address}
	}
	if r.apiAtLeast("1.44") {
		ep.MacAddress = a.MacAddress
	}
	return ep
}

// containerConfig maps spec onto the engine's container and host configuration. Networks are
// left to CreateContainer.
func (r *Runtime) containerConfig(spec runtime.ContainerSpec) (*container.Config, *container.HostConfig, error) {
	cfg := &container.Config{
		Image:        spec.Image,
		Labels:       spec.Labels,
		Env:          spec.Env,
		WorkingDir:   spec.WorkingDir,
		User:         spec.User,
		Hostname:     spec.Hostname,
		Domainname:   spec.Domainname,
		Tty:          spec.Tty,
		OpenStdin:    spec.StdinOpen,
		AttachStdin:  spec.StdinOpen,
		StdinOnce:    spec.StdinOnce,
		AttachStdout: true,
		AttachStderr: true,
		StopSignal:   spec.StopSignal,
		StopTimeout:  seconds(spec.StopTimeout),
	}
	if spec.Entrypoint != nil {
		cfg.Entrypoint = strslice.StrSlice(spec.Entrypoint)
	}
	if spec.Command != nil {
		cfg.Cmd = strslice.StrSlice(spec.Command)
	}
	if !r.apiAtLeast("1.44") {
		cfg.MacAddress = spec.MacAddress //nolint:staticcheck // needed before API 1.44
	}
	if hc := spec.Healthcheck; hc != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test:        hc.Test,
			Interval:    hc.Interval,
			Timeout:     hc.Timeout,
			StartPeriod: hc.StartPeriod,
			Retries:     hc.Retries,
		}
		if r.apiAtLeast("1.44") {
			cfg.Healthcheck.StartInterval = hc.StartInterval
		}
	}

	exposed, bindings, err := portConfig(spec.Ports, spec.Expose)
	if err != nil {
		return nil, nil, err
	}
	cfg.ExposedPorts = exposed

	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.NetworkMode.String()),
		PortBindings:   bindings,
		ExtraHosts:     spec.ExtraHosts,
		DNS:            spec.DNS,
		DNSSearch:      spec.DNSSearch,
		DNSOptions:     spec.DNSOptions,
		Tmpfs:          spec.Tmpfs,
		Init:           spec.Init,
		Privileged:     spec.Privileged,
		CapAdd:         strslice.StrSlice(spec.CapAdd),
		CapDrop:        strslice.StrSlice(spec.CapDrop),
		SecurityOpt:    spec.SecurityOpt,
		ReadonlyRootfs: spec.ReadOnly,
		IpcMode:        container.IpcMode(spec.IPC.String()),
		PidMode:        container.PidMode(spec.PID.String()),
		GroupAdd:       spec.GroupAdd,
		Sysctls:        spec.Sysctls,
		ShmSize:        spec.Resources.ShmSize,
		LogConfig:      container.LogConfig{Type: spec.Log.Driver, Config: spec.Log.Options},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyMode(spec.Restart.Name)},
		Resources: container.Resources{
			Memory:            spec.Resources.Memory,
			MemorySwap:        spec.Resources.MemorySwap,
			MemoryReservation: spec.Resources.MemoryReservation,
			NanoCPUs:          spec.Resources.NanoCPUs,
			CPUShares:         spec.Resources.CPUShares,
			CpusetCpus:        spec.Resources.CPUSet,
		},
	}
	if spec.Restart.Name == string(container.RestartPolicyOnFailure) {
		host.RestartPolicy.MaximumRetryCount = spec.Restart.MaxRetries
	}
	if spec.Resources.PidsLimit != 0 {
		host.PidsLimit = &spec.Resources.PidsLimit
	}
	if spec.Resources.OomKillDisable {
		host.OomKillDisable = &spec.Resources.OomKillDisable
	}
	for _, u := range spec.Ulimits {
		host.Ulimits = append(host.Ulimits, &units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	r.setKnobs(host, spec)
	for _, v := range spec.VolumesFrom {
		host.VolumesFrom = append(host.VolumesFrom, v.String())
	}
	for _, m := range spec.Mounts {
		if err := r.addMount(host, m); err != nil {
			return nil, nil, err
		}
	}
	host.Mounts = append(host.Mounts, fileMounts(spec.Files)...)
	addDevices(host, spec)
	return cfg, host, nil
}

// addMount adds m to host as a mount, or as a legacy bind ("src:dst[:ro]") when it must create
// a missing host folder: before API 1.42 only the legacy form does that.
func (r *Runtime) addMount(host *container.HostConfig, m runtime.Mount) error {
	switch m.Type {
	case runtime.MountBind:
		if m.CreateHostPath && !r.apiAtLeast("1.42") {
			if strings.Contains(m.Source, ":") || strings.Contains(m.Target, ":") {
				return fmt.Errorf("bind mount %s:%s: a path with ':' cannot be created by this engine (API %s)", m.Source, m.Target, r.cli.ClientVersion())
			}
			bind := m.Source + ":" + m.Target
			if m.ReadOnly {
				bind += ":ro"
			}
			host.Binds = append(host.Binds, bind)
			return nil
		}
		mnt := mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.CreateHostPath {
			mnt.BindOptions = &mount.BindOptions{CreateMountpoint: true}
		}
		host.Mounts = append(host.Mounts, mnt)
	case runtime.MountVolume:
		mnt := mount.Mount{Type: mount.TypeVolume, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.NoCopy {
			mnt.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
		}
		host.Mounts = append(host.Mounts, mnt)
	case runtime.MountTmpfs:
		mnt := mount.Mount{Type: mount.TypeTmpfs, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			mnt.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
		host.Mounts = append(host.Mounts, mnt)
	default:
		return fmt.Errorf("mount %s: unknown type %q", m.Target, m.Type)
	}
	return nil
}

// portConfig builds the exposed ports and host bindings of ports and expose ("80",
// "53/udp", "8000-8010").
func portConfig(ports []runtime.PortSpec, expose []string) (nat.PortSet, nat.PortMap, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(int(p.ContainerPort)))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w", p.ContainerPort, proto, err)
		}
		if p.HostPort != "" {
			if _, _, err := nat.ParsePortRangeToInt(p.HostPort); err != nil {
				return nil, nil, fmt.Errorf("port %s:%d: bad host port: %w", p.HostPort, p.ContainerPort, err)
			}
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: p.HostPort})
	}
	for _, e := range expose {
		rng, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		start, end, err := nat.ParsePortRangeToInt(rng)
		if err != nil {
			return nil, nil, fmt.Errorf("expose %s: %w", e, err)
		}
		for n := start; n <= end; n++ {
			port, err := nat.NewPort(proto, strconv.Itoa(n))
			if err != nil {
				return nil, nil, fmt.Errorf("expose %s: %w", e, err)
			}
			exposed[port] = struct{}{}
		}
	}
	if len(exposed) == 0 {
		exposed = nil
	}
	if len(bindings) == 0 {
		bindings = nil
	}
	return exposed, bindings, nil
}
