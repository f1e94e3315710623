package project

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/runtime"
)

// Version is comp's version, written in the com.docker.compose.version label.
var Version = "0.1.0-dev"

// ContainerOptions are the per-container facts a spec needs beyond the service itself.
type ContainerOptions struct {
	// Number is the replica number, from 1.
	Number int
	// Name overrides the container name (a temporary name while recreating, a one-off name).
	Name string
	// ImageID is the digest of the image the container will run, for the image label.
	ImageID string
	// Oneoff marks a `comp run` container.
	Oneoff bool
	// Replace names the container this one replaces (label com.docker.compose.replace).
	Replace string
}

// ContainerSpec turns service s into the backend-neutral spec of one of its containers.
func (p *Project) ContainerSpec(s types.ServiceConfig, o ContainerOptions) (runtime.ContainerSpec, error) {
	hash, err := ConfigHash(s)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	name := o.Name
	if name == "" {
		name = ContainerName(p.Name, s, o.Number)
	}
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	for k, v := range s.CustomLabels {
		labels[k] = v
	}
	for k, v := range p.ProjectLabels() {
		labels[k] = v
	}
	labels[runtime.LabelService] = s.Name
	labels[runtime.LabelContainerNumber] = strconv.Itoa(o.Number)
	labels[runtime.LabelOneoff] = "False"
	if o.Oneoff {
		labels[runtime.LabelOneoff] = "True"
	}
	labels[runtime.LabelConfigHash] = hash
	if fields, err := FieldDigests(s); err == nil {
		labels[LabelConfigFields] = fields
	}
	labels[runtime.LabelDependsOn] = DependsOnLabel(s)
	if o.ImageID != "" {
		labels[runtime.LabelImage] = o.ImageID
	}
	if o.Replace != "" {
		labels[runtime.LabelReplace] = o.Replace
	}

	spec := runtime.ContainerSpec{
		Name:        name,
		Image:       s.Image,
		Labels:      labels,
		Env:         environment(s.Environment),
		WorkingDir:  s.WorkingDir,
		User:        s.User,
		Hostname:    s.Hostname,
		Domainname:  s.DomainName,
		Tty:         s.Tty,
		StdinOpen:   s.StdinOpen,
		Expose:      []string(s.Expose),
		ExtraHosts:  s.ExtraHosts.AsList(":"),
		DNS:         []string(s.DNS),
		DNSSearch:   []string(s.DNSSearch),
		DNSOptions:  s.DNSOpts,
		MacAddress:  s.MacAddress,
		StopSignal:  s.StopSignal,
		Init:        s.Init,
		Privileged:  s.Privileged,
		CapAdd:      s.CapAdd,
		CapDrop:     s.CapDrop,
		SecurityOpt: s.SecurityOpt,
		ReadOnly:    s.ReadOnly,
		GroupAdd:    s.GroupAdd,
		Sysctls:     map[string]string(s.Sysctls),
		Restart:     restartPolicy(s),
		Links:       p.links(s),
		Healthcheck: healthcheck(s.HealthCheck),
		Resources:   resources(s),
	}
	sort.Strings(spec.ExtraHosts)
	if s.Entrypoint != nil {
		spec.Entrypoint = []string(s.Entrypoint)
	}
	if s.Command != nil {
		spec.Command = []string(s.Command)
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		spec.StopTimeout = &d
	}
	if s.Logging != nil {
		spec.Log = runtime.LogConfig{Driver: s.Logging.Driver, Options: map[string]string(s.Logging.Options)}
	}
	for name, u := range s.Ulimits {
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		spec.Ulimits = append(spec.Ulimits, runtime.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	sort.Slice(spec.Ulimits, func(i, j int) bool { return spec.Ulimits[i].Name < spec.Ulimits[j].Name })
	kernelKnobs(s, &spec)

	if err := p.networking(s, &spec); err != nil {
		return runtime.ContainerSpec{}, err
	}
	if spec.IPC, err = p.namespace(s, "ipc", s.Ipc); err != nil {
		return runtime.ContainerSpec{}, err
	}
	if spec.PID, err = p.namespace(s, "pid", s.Pid); err != nil {
		return runtime.ContainerSpec{}, err
	}
	for _, port := range s.Ports {
		spec.Ports = append(spec.Ports, runtime.PortSpec{
			HostIP:        port.HostIP,
			HostPort:      port.Published,
			ContainerPort: uint16(port.Target),
			Protocol:      defaultString(port.Protocol, "tcp"),
		})
	}
	spec.Mounts, spec.VolumesFrom = p.mounts(s)
	if spec.Files, err = p.ContainerFiles(s); err != nil {
		return runtime.ContainerSpec{}, err
	}
	if len(spec.Files) > 0 {
		spec.Labels[LabelFiles] = FilesLabel(p.Name, s.Name, spec.Files)
	}
	spec.Devices, spec.DeviceRequests = devices(s)
	if len(s.Tmpfs) > 0 {
		spec.Tmpfs = map[string]string{}
		for _, t := range s.Tmpfs {
			target, opts, _ := strings.Cut(t, ":")
			spec.Tmpfs[target] = opts
		}
	}
	spec.PostStart, spec.PreStop = hooks(s.PostStart), hooks(s.PreStop)
	return spec, nil
}

// hooks turns a service's post_start or pre_stop entries into the runtime's.
func hooks(hs []types.ServiceHook) []runtime.Hook {
	var out []runtime.Hook
	for _, h := range hs {
		out = append(out, runtime.Hook{Command: []string(h.Command), User: h.User, Privileged: h.Privileged,
			WorkingDir: h.WorkingDir, Env: environment(h.Environment)})
	}
	return out
}

// ProjectLabels are the labels every object of the project carries.
func (p *Project) ProjectLabels() map[string]string {
	l := map[string]string{
		runtime.LabelProject:     p.Name,
		runtime.LabelWorkingDir:  p.WorkingDir,
		runtime.LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		runtime.LabelVersion:     Version,
	}
	if len(p.EnvFiles) > 0 {
		l[runtime.LabelEnvironmentFile] = strings.Join(p.EnvFiles, ",")
	}
	return l
}

// DependsOnLabel encodes s's dependencies as Docker Compose does (svc:condition:restart,
// comma-joined, sorted), so `down` and `restart` can rebuild the graph with no compose file.
func DependsOnLabel(s types.ServiceConfig) string {
	var deps []string
	for name, d := range s.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", name, defaultString(d.Condition, types.ServiceConditionStarted), d.Restart))
	}
	sort.Strings(deps)
	return strings.Join(deps, ",")
}

func (p *Project) networking(s types.ServiceConfig, spec *runtime.ContainerSpec) error {
	if mode := s.NetworkMode; mode != "" && !(mode == "bridge" && len(s.Networks) > 0) {
		ns, err := p.namespace(s, "network_mode", mode)
		spec.NetworkMode = ns
		return err
	}
	for _, key := range s.NetworksByPriority() {
		cfg := s.Networks[key]
		att := runtime.NetworkAttachment{Network: p.NetworkName(key)}
		// Every container answers to its service name on each of its networks, like Compose.
		att.Aliases = []string{s.Name}
		if cfg != nil {
			att.Aliases = append(att.Aliases, cfg.Aliases...)
			att.IPv4Address = cfg.Ipv4Address
			att.IPv6Address = cfg.Ipv6Address
			att.MacAddress = cfg.MacAddress
			att.Priority = cfg.Priority
		}
		spec.Networks = append(spec.Networks, att)
	}
	if spec.MacAddress != "" && len(spec.Networks) > 0 && spec.Networks[0].MacAddress == "" {
		spec.Networks[0].MacAddress = spec.MacAddress
	}
	return nil
}

// links resolves links: "service[:alias]" to "<container name>:alias", as the engine wants them.
func (p *Project) links(s types.ServiceConfig) []string {
	var out []string
	for _, l := range s.Links {
		svc, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = svc
		}
		name := svc
		if dep, err := p.GetService(svc); err == nil {
			name = ContainerName(p.Name, dep, 1)
		}
		out = append(out, name+":"+alias)
	}
	return out
}

func (p *Project) mounts(s types.ServiceConfig) ([]runtime.Mount, []runtime.VolumesFrom) {
	var mounts []runtime.Mount
	for _, v := range s.Volumes {
		m := runtime.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source != "" {
				m.Source = p.VolumeName(v.Source)
			}
			if v.Volume != nil {
				m.NoCopy = v.Volume.NoCopy
			}
		case types.VolumeTypeBind:
			// Short syntax creates a missing host folder, as Docker does; long syntax does
			// only when bind.create_host_path says so (compose-go defaults it to true).
			m.CreateHostPath = v.Bind == nil || bool(v.Bind.CreateHostPath)
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsSize = int64(v.Tmpfs.Size)
				m.TmpfsMode = v.Tmpfs.Mode
			}
		}
		mounts = append(mounts, m)
	}
	var from []runtime.VolumesFrom
	for _, vf := range s.VolumesFrom {
		ref := parseVolumesFrom(vf)
		if ref.service != "" {
			ref.Container = ref.service
			if dep, err := p.GetService(ref.service); err == nil {
				ref.Container = ContainerName(p.Name, dep, 1)
			}
		}
		from = append(from, ref.VolumesFrom)
	}
	return mounts, from
}

// namespace reads a compose network_mode, ipc or pid value (key names it for errors):
// service:NAME is the namespace of that service's first container, container:NAME that of a
// container outside the project, anything else a mode.
func (p *Project) namespace(s types.ServiceConfig, key, mode string) (runtime.Namespace, error) {
	if name, ok := strings.CutPrefix(mode, "service:"); ok {
		dep, err := p.GetService(name)
		if err != nil {
			return runtime.Namespace{}, fmt.Errorf("services.%s.%s: %w", s.Name, key, err)
		}
		return runtime.JoinContainer(ContainerName(p.Name, dep, 1)), nil
	}
	if name, ok := strings.CutPrefix(mode, "container:"); ok {
		return runtime.JoinContainer(name), nil
	}
	return runtime.Namespace{Mode: mode}, nil
}

// volumesFromRef is a volumes_from entry: SERVICE[:MODE] (service set) or container:NAME[:MODE].
type volumesFromRef struct {
	runtime.VolumesFrom
	service string
}

// parseVolumesFrom reads a volumes_from entry, unchecked (validVolumesFrom checks it).
func parseVolumesFrom(vf string) volumesFromRef {
	if rest, ok := strings.CutPrefix(vf, "container:"); ok {
		name, mode, _ := strings.Cut(rest, ":")
		return volumesFromRef{VolumesFrom: runtime.VolumesFrom{Container: name, Mode: mode}}
	}
	name, mode, _ := strings.Cut(vf, ":")
	return volumesFromRef{VolumesFrom: runtime.VolumesFrom{Mode: mode}, service: name}
}

// Parents are the services whose container s shares a namespace (network_mode, ipc, pid
// service:NAME) or the volumes of (volumes_from SERVICE): s depends on them implicitly, and is
// recreated when they are.
func Parents(s types.ServiceConfig) []string {
	var ps []string
	for _, mode := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if name, ok := strings.CutPrefix(mode, "service:"); ok {
			ps = append(ps, name)
		}
	}
	for _, vf := range s.VolumesFrom {
		if ref := parseVolumesFrom(vf); ref.service != "" {
			ps = append(ps, ref.service)
		}
	}
	return ps
}

// environment turns compose's mapping into KEY=VALUE, sorted; a variable with no value (unset
// in the environment) is left out, as Compose does.
func environment(m types.MappingWithEquals) []string {
	var env []string
	for k, v := range m {
		if v == nil {
			continue
		}
		env = append(env, k+"="+*v)
	}
	sort.Strings(env)
	return env
}

func restartPolicy(s types.ServiceConfig) runtime.RestartPolicy {
	if s.Restart != "" {
		name, n, _ := strings.Cut(s.Restart, ":")
		max, _ := strconv.Atoi(n)
		return runtime.RestartPolicy{Name: name, MaxRetries: max}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		var policy runtime.RestartPolicy
		switch rp.Condition {
		case "none", "":
			policy.Name = "no"
		case "on-failure":
			policy.Name = "on-failure"
		default: // "any"
			policy.Name = "always"
		}
		if rp.MaxAttempts != nil {
			policy.MaxRetries = int(*rp.MaxAttempts)
		}
		if rp.Delay != nil {
			policy.Delay = time.Duration(*rp.Delay)
		}
		if rp.Window != nil {
			policy.Window = time.Duration(*rp.Window)
		}
		return policy
	}
	return runtime.RestartPolicy{Name: "no"}
}

func healthcheck(h *types.HealthCheckConfig) *runtime.Healthcheck {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &runtime.Healthcheck{Test: []string{"NONE"}}
	}
	hc := &runtime.Healthcheck{Test: []string(h.Test)}
	dur := func(d *types.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	hc.Interval = dur(h.Interval)
	hc.Timeout = dur(h.Timeout)
	hc.StartPeriod = dur(h.StartPeriod)
	hc.StartInterval = dur(h.StartInterval)
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc
}

func resources(s types.ServiceConfig) runtime.Resources {
	r := runtime.Resources{
		Memory:            int64(s.MemLimit),
		MemorySwap:        int64(s.MemSwapLimit),
		MemoryReservation: int64(s.MemReservation),
		NanoCPUs:          int64(s.CPUS * 1e9),
		CPUShares:         s.CPUShares,
		CPUSet:            s.CPUSet,
		PidsLimit:         s.PidsLimit,
		ShmSize:           int64(s.ShmSize),
		OomKillDisable:    s.OomKillDisable,
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				r.NanoCPUs = int64(float64(l.NanoCPUs) * 1e9)
			}
			if l.Pids != 0 {
				r.PidsLimit = l.Pids
			}
		}
		if res := s.Deploy.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
	}
	return r
}

// kernelKnobs fills spec's namespace, cgroup and process settings of issue 13 from s, as
// Docker Compose passes them to the engine (a zero mem_swappiness or oom_score_adj is unset,
// as there).
func kernelKnobs(s types.ServiceConfig, spec *runtime.ContainerSpec) {
	spec.UTS = s.Uts
	spec.Cgroup = s.Cgroup
	spec.CgroupParent = s.CgroupParent
	if s.OomScoreAdj != 0 {
		adj := int(s.OomScoreAdj)
		spec.OomScoreAdj = &adj
	}
	spec.DeviceCgroupRules = s.DeviceCgroupRules
	spec.UsernsMode = s.UserNSMode
	spec.StorageOpt = s.StorageOpt
	spec.OCIRuntime = s.Runtime
	spec.Annotations = map[string]string(s.Annotations)
	spec.Isolation = s.Isolation
	spec.Umask = s.Umask

	r := &spec.Resources
	r.CPUPeriod = s.CPUPeriod
	r.CPUQuota = s.CPUQuota
	r.CPURealtimePeriod = s.CPURTPeriod
	r.CPURealtimeRuntime = s.CPURTRuntime
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	r.CPUCount = s.CPUCount
	r.CPUPercent = s.CPUPercent
	if b := s.BlkioConfig; b != nil {
		r.Blkio.Weight = b.Weight
		for _, d := range b.WeightDevice {
			r.Blkio.WeightDevice = append(r.Blkio.WeightDevice, runtime.WeightDevice{Path: d.Path, Weight: d.Weight})
		}
		throttle := func(in []types.ThrottleDevice) []runtime.ThrottleDevice {
			var out []runtime.ThrottleDevice
			for _, d := range in {
				out = append(out, runtime.ThrottleDevice{Path: d.Path, Rate: uint64(d.Rate)})
			}
			return out
		}
		r.Blkio.DeviceReadBps = throttle(b.DeviceReadBps)
		r.Blkio.DeviceReadIOps = throttle(b.DeviceReadIOps)
		r.Blkio.DeviceWriteBps = throttle(b.DeviceWriteBps)
		r.Blkio.DeviceWriteIOps = throttle(b.DeviceWriteIOps)
	}
}

// NetworkSpec is the spec of the project's network key.
func (p *Project) NetworkSpec(key string) runtime.NetworkSpec {
	n := p.Networks[key]
	labels := p.objectLabels(n.Labels, n.CustomLabels, runtime.LabelNetwork, key)
	spec := runtime.NetworkSpec{
		Name:       p.NetworkName(key),
		Driver:     n.Driver,
		DriverOpts: map[string]string(n.DriverOpts),
		Labels:     labels,
		Internal:   n.Internal,
		Attachable: n.Attachable,
		EnableIPv6: n.EnableIPv6 != nil && *n.EnableIPv6,
		IPAM:       runtime.IPAM{Driver: n.Ipam.Driver},
	}
	for _, pool := range n.Ipam.Config {
		if pool == nil {
			continue
		}
		spec.IPAM.Pools = append(spec.IPAM.Pools, runtime.IPAMPool{Subnet: pool.Subnet, Gateway: pool.Gateway, IPRange: pool.IPRange})
	}
	return spec
}

// VolumeSpec is the spec of the project's volume key.
func (p *Project) VolumeSpec(key string) runtime.VolumeSpec {
	v := p.Volumes[key]
	labels := p.objectLabels(v.Labels, v.CustomLabels, runtime.LabelVolume, key)
	return runtime.VolumeSpec{
		Name:       p.VolumeName(key),
		Driver:     v.Driver,
		DriverOpts: map[string]string(v.DriverOpts),
		Labels:     labels,
	}
}

// objectLabels are the labels of the project's network or volume key: the user's labels, the
// custom ones compose-go adds, then Compose's (project, keyLabel=key, version).
func (p *Project) objectLabels(user, custom map[string]string, keyLabel, key string) map[string]string {
	labels := make(map[string]string, len(user)+len(custom)+3)
	maps.Copy(labels, user)
	maps.Copy(labels, custom)
	labels[runtime.LabelProject] = p.Name
	labels[keyLabel] = key
	labels[runtime.LabelVersion] = Version
	return labels
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
