// Package runtime is the one seam between what comp wants (the planner and reconciler) and how
// containers are run (Docker Engine, the embedded engine). It holds the Runtime interface, the
// backend-neutral specs and observations it speaks in, and the error classes backends map onto.
// It must not import compose-go: specs are plain data built by package project.
package runtime

import (
	"context"
	"io"
	"time"
)

// Runtime runs containers, networks and volumes for comp. Every method is safe for concurrent
// use. Objects are found by the labels comp put on them (see ListOptions), never by parsing names.
// Errors are classified with ErrNotFound, ErrConflict, ErrInvalidArgument, ErrUnavailable or
// ErrNotImplemented where that applies; an error names the operation and the object once (the
// caller adds no "start container X:" of its own).
type Runtime interface {
	// Name is the runtime's name as chosen with --runtime ("docker", "embedded").
	Name() string
	// Info describes the engine; an unreachable engine gives ErrUnavailable.
	Info(ctx context.Context) (Info, error)
	// Capabilities says which of the optional operations the runtime has; the others give
	// ErrNotImplemented.
	Capabilities() Capabilities
	// Close releases the connection to the engine.
	Close() error

	// Recover re-attaches the runtime to project's running containers after the process that
	// owned them has gone (as a Nomad driver's RecoverTask): the embedded runtime starts a new
	// supervisor, which re-adopts them, when none answers. Reads (List…, Inspect…) never start
	// anything; a command that acts on a project recovers it first. Docker Engine owns its
	// containers itself: there it does nothing.
	Recover(ctx context.Context, project string) error
	// LockProject holds project's lock until the returned function is called, so that two
	// commands changing one project never interleave. Without Capabilities.ProjectLock it
	// holds nothing and returns at once.
	LockProject(ctx context.Context, project string) (unlock func(), err error)

	ContainerRuntime
	NetworkRuntime
	VolumeRuntime
	ImageRuntime
	SpecChecker

	// Events streams container events of the given project ("" for all) until ctx ends.
	// The error channel receives at most one error and is then closed.
	Events(ctx context.Context, project string) (<-chan Event, <-chan error)
}

// Capabilities are the optional parts of a Runtime, as a Nomad driver declares its own.
type Capabilities struct {
	// AttachOutput: the runtime streams a container's output live from the moment of attaching
	// more cheaply than by following its logs. Docker's attach API copies the output as the
	// container writes it, where following its logs makes the engine decode its JSON log file
	// again (three times the engine's CPU for a chatty stack); attached `up` attaches so just
	// before it starts a container, as Docker Compose does. The embedded runtime's logs are
	// that cheap stream already.
	AttachOutput bool
	// ProjectLock: LockProject serialises the commands of every comp process on a project.
	ProjectLock bool
}

// ContainerRuntime is the container half of Runtime.
type ContainerRuntime interface {
	ListContainers(ctx context.Context, opts ListOptions) ([]Container, error)
	InspectContainer(ctx context.Context, idOrName string) (Container, error)
	// CreateContainer creates (but does not start) a container and returns its ID.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StartContainer starts a container, then runs its PostStart hooks (see RunHooks); one
	// that fails stops the container again and fails the start with the hook's output. A
	// running container is left as it is, its hooks not run again.
	StartContainer(ctx context.Context, id string) error
	// StopContainer runs a running container's PreStop hooks (one that fails fails the stop,
	// the container still running), sends the stop signal, waits up to timeout (nil: the
	// container's own stop timeout, else 10s), then kills.
	StopContainer(ctx context.Context, id string, timeout *time.Duration) error
	KillContainer(ctx context.Context, id string, signal string) error
	// RestartContainer stops the container as StopContainer does and starts it as
	// StartContainer does, hooks included.
	RestartContainer(ctx context.Context, id string, timeout *time.Duration) error
	// RemoveContainer removes a container; Force kills a running one first, Volumes removes
	// its anonymous volumes.
	RemoveContainer(ctx context.Context, id string, opts RemoveOptions) error
	RenameContainer(ctx context.Context, id string, newName string) error
	// WaitContainer blocks until the container is not running and returns its exit code.
	WaitContainer(ctx context.Context, id string) (int, error)
	// Logs writes the container's output as lines to sink until the output ends (or, with
	// Follow, until the container stops or ctx ends).
	Logs(ctx context.Context, id string, opts LogOptions, sink func(LogLine)) error
	// Attach connects streams to a created or running container; call before StartContainer
	// to see all output. The returned function waits for the streams to close.
	Attach(ctx context.Context, id string, streams AttachStreams) (wait func() error, err error)
	// AttachOutput connects to container id's stdout and stderr and returns once connected.
	// The returned function passes each line printed from then on to sink (from one
	// goroutine, Time being when it was read) until the output ends or ctx ends. Only with
	// Capabilities.AttachOutput; else ErrNotImplemented.
	AttachOutput(ctx context.Context, id string) (func(sink func(LogLine)) error, error)
	// ResizeTerminal sets the size of a running container's terminal, which an attached
	// `run` keeps the size of comp's own.
	ResizeTerminal(ctx context.Context, id string, width, height uint16) error
	// Exec runs a command inside a running container and returns its exit code.
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
	// Top lists the processes running in a container.
	Top(ctx context.Context, id string) (Top, error)
}

// NetworkRuntime is the network half of Runtime.
type NetworkRuntime interface {
	ListNetworks(ctx context.Context, opts ListOptions) ([]Network, error)
	InspectNetwork(ctx context.Context, idOrName string) (Network, error)
	CreateNetwork(ctx context.Context, spec NetworkSpec) (Network, error)
	RemoveNetwork(ctx context.Context, idOrName string) error
}

// VolumeRuntime is the volume half of Runtime.
type VolumeRuntime interface {
	ListVolumes(ctx context.Context, opts ListOptions) ([]Volume, error)
	InspectVolume(ctx context.Context, name string) (Volume, error)
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	RemoveVolume(ctx context.Context, name string, force bool) error
}

// ImageRuntime is the image half of Runtime.
type ImageRuntime interface {
	ListImages(ctx context.Context) ([]Image, error)
	// InspectImage returns a local image by reference or ID, or ErrNotFound.
	InspectImage(ctx context.Context, ref string) (Image, error)
	// PullImage pulls ref; progress (may be nil) receives status updates.
	PullImage(ctx context.Context, ref string, progress func(PullProgress)) error
	RemoveImage(ctx context.Context, ref string, force bool) error
	// PruneImages removes unused, untagged images and returns what it removed.
	PruneImages(ctx context.Context) ([]string, error)
	// LoadImages loads the images of a tarball (`comp image load`): a docker-archive
	// (`docker save`) or an OCI-layout tar.
	LoadImages(ctx context.Context, r io.Reader) ([]Image, error)
	// BuildImage builds spec and tags the result with spec.Tags; it returns the image ID.
	// progress (may be nil) receives the build's output, one line at a time. A Dockerfile
	// error names the file and line.
	BuildImage(ctx context.Context, spec BuildSpec, progress func(BuildProgress)) (string, error)
}

// SpecChecker is how a runtime that supports only part of what a compose file can ask for says
// so. comp asks about every image a plan would build and every container and network it would
// create before it builds or creates anything, so that an unsupported one stops `up` before
// anything changes. CheckBuildSpec says that the runtime's builder cannot honour part of a
// build (a build: key, a Dockerfile feature) with an error classified ErrNotImplemented that
// names it.
type SpecChecker interface {
	CheckContainerSpec(spec ContainerSpec) error
	CheckNetworkSpec(spec NetworkSpec) error
	CheckBuildSpec(spec BuildSpec) error
}

// BuildSpec is a compose service's build: section, paths resolved.
type BuildSpec struct {
	// Context is the build context folder.
	Context string
	// Dockerfile is the Dockerfile's path relative to Context ("" is "Dockerfile");
	// DockerfileInline, when set, is the Dockerfile's content instead.
	Dockerfile       string
	DockerfileInline string
	// Args are build arguments; a nil value takes the variable from the environment.
	Args   map[string]*string
	Target string
	Labels map[string]string
	// Tags name the result: the first is the service's image.
	Tags    []string
	NoCache bool
	// Pull pulls the base images even when present.
	Pull bool

	// The rest of a compose build: section (issue 13). A builder that cannot honour one of
	// these when it is set refuses the build before it starts, naming the key.

	// Secrets are what RUN --mount=type=secret,id=ID reads (build.secrets).
	Secrets []BuildSecret
	// Contexts are the named contexts (build.additional_contexts): name to a folder (absolute),
	// "docker-image://REF" (service:NAME becomes its image's), or a URL form as written.
	Contexts map[string]string
	// SSH are the build.ssh entries, "ID" or "ID=PATH".
	SSH []string
	// ExtraHosts are "NAME:IP" lines added to the /etc/hosts that RUN sees.
	ExtraHosts []string
	// Network is RUN's network ("", "default", "host", "none" or a network name).
	Network string
	// ShmSize sizes RUN's /dev/shm, in bytes (0: the default).
	ShmSize int64
	// Ulimits are RUN's resource limits.
	Ulimits []Ulimit
	// Platforms are the platforms to build for ("linux/amd64"); empty is the host's.
	Platforms []string
	// Privileged is build.privileged: the build may run RUN --security=insecure.
	Privileged bool
	// Entitlements are build.entitlements ("network.host", "security.insecure").
	Entitlements []string
	// Provenance and SBOM are the attestations asked for ("" when not).
	Provenance, SBOM string
	// CacheFrom and CacheTo are external cache sources and destinations.
	CacheFrom, CacheTo []string
	// NoCacheFilter names the stages built without the cache.
	NoCacheFilter []string
	// Isolation is the container isolation technology ("" or "default" on Linux).
	Isolation string
}

// BuildSecret is one secret of a build, under the ID that RUN --mount=type=secret names.
type BuildSecret struct {
	ID string
	// File is the file that holds it; when "", Value does.
	File  string
	Value []byte `json:"-"`
}

// BuildProgress is one line of a build's output.
type BuildProgress struct {
	// Step is the instruction being run, e.g. "[2/5] RUN make".
	Step string
	Text string
}

// Info describes an engine.
type Info struct {
	Runtime       string // "docker", "embedded"
	ServerVersion string
	APIVersion    string
	OS, Arch      string
	// Features lists optional capabilities ("seccomp", …) for `comp version`.
	Features []string
}

// ListOptions selects objects by label. An empty Project selects every object that carries the
// com.docker.compose.project label.
type ListOptions struct {
	Project string
	// All includes stopped containers.
	All bool
	// Labels are further key=value filters; an empty value matches any value of the key.
	Labels map[string]string
}

// Match says whether an object with labels is selected: it carries the project label (of
// Project, when set) and every entry of Labels (any value of a key whose value is empty). All
// is for the backend to apply, as it knows the object's state.
func (o ListOptions) Match(labels map[string]string) bool {
	p, ok := labels[LabelProject]
	if !ok || o.Project != "" && p != o.Project {
		return false
	}
	for k, v := range o.Labels {
		got, ok := labels[k]
		if !ok || v != "" && got != v {
			return false
		}
	}
	return true
}

// Container states as the Docker Engine names them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateRemoving   = "removing"
	StateExited     = "exited"
	StateDead       = "dead"
)

// Health states.
const (
	HealthNone      = ""
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Container is an observed container.
type Container struct {
	ID      string
	Name    string // without Docker's leading slash
	Image   string // the reference it was created from
	ImageID string // the image's ID (digest) it runs
	Command string
	Labels  map[string]string

	State    string
	ExitCode int
	Health   string
	// RestartCount counts restarts by the runtime's restart policy.
	RestartCount int
	// Restart is the container's restart policy ("no" when it has none); its Name is empty
	// when the runtime did not say (Docker's container list does not).
	Restart    RestartPolicy
	Created    time.Time
	StartedAt  time.Time
	FinishedAt time.Time

	Ports    []Port
	Networks map[string]ContainerNetwork // by network name
	Mounts   []Mount
}

// ContainerNetwork is a container's endpoint on one network.
type ContainerNetwork struct {
	NetworkID string
	IPAddress string
	Aliases   []string
}

// Port is a published (or only exposed, when HostPort is 0) container port.
type Port struct {
	HostIP        string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string // tcp, udp, sctp
}

// ContainerSpec is everything needed to create a container, backend-neutral.
type ContainerSpec struct {
	Name   string
	Image  string
	Labels map[string]string

	// Entrypoint and Command override the image's when non-nil (an empty non-nil slice clears).
	Entrypoint []string
	Command    []string
	Env        []string // KEY=VALUE
	WorkingDir string
	User       string
	Hostname   string
	Domainname string
	Tty        bool
	StdinOpen  bool
	// StdinOnce closes the container's stdin when the attached client closes its own, so
	// `run` of a piped command ends its input without cutting its output short.
	StdinOnce bool

	// NetworkMode is the zero value (attach to Networks), host, none, or another container's
	// network namespace.
	NetworkMode Namespace
	Networks    []NetworkAttachment
	Ports       []PortSpec
	Expose      []string
	ExtraHosts  []string // host:ip
	DNS         []string
	DNSSearch   []string
	DNSOptions  []string
	MacAddress  string

	Mounts []Mount
	Tmpfs  map[string]string // target -> options
	// VolumesFrom mounts the volumes of other containers.
	VolumesFrom []VolumesFrom

	Restart RestartPolicy
	// Links are "service[:alias]" names the container resolves on its networks (links:).
	Links       []string
	Healthcheck *Healthcheck
	StopSignal  string
	StopTimeout *time.Duration
	Init        *bool

	Privileged  bool
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string
	ReadOnly    bool
	IPC         Namespace
	PID         Namespace
	GroupAdd    []string
	Sysctls     map[string]string
	Ulimits     []Ulimit
	Resources   Resources
	Log         LogConfig

	// Files are the service's secrets and configs, as project resolved them: each one a host
	// file bind-mounted read-only, or content the backend writes where the container sees it
	// before it starts. Their content never goes into labels or logs.
	Files []ContainerFile

	// Lifecycle hooks (post_start, pre_stop). The runtime keeps them with the container and
	// runs them itself, so that every start and stop it is asked for honours them, whichever
	// command asks: PostStart right after each StartContainer and RestartContainer (not after
	// a restart by the restart policy), PreStop before each StopContainer and
	// RestartContainer of a running container (not before a kill or a forced removal).
	PostStart []Hook
	PreStop   []Hook

	// Devices and device requests (services.*.devices, gpus and
	// deploy.resources.reservations.devices; see devices.go). Devices are host device nodes
	// made in the container; DeviceRequests ask a runtime's device drivers for devices, CDI
	// ones among them (a compose device named vendor/class=name is a request of DriverCDI).
	Devices        []DeviceMapping
	DeviceRequests []DeviceRequest

	// Kernel knobs (issue 13): namespaces, cgroup placement and process settings that
	// Resources does not hold. A backend that cannot honour a value refuses it in
	// CheckContainerSpec.
	//
	// UTS is "" (the container's own) or "host".
	UTS string
	// Cgroup is the cgroup namespace: "" (the runtime's default), "host" or "private".
	Cgroup string
	// CgroupParent is the cgroup the container's is made in ("" for the runtime's own); a
	// relative path is relative to the runtime's own cgroup, as on Docker.
	CgroupParent string
	// OomScoreAdj is the container's oom_score_adj (-1000…1000); nil leaves the runtime's.
	OomScoreAdj *int
	// DeviceCgroupRules are device cgroup rules added to the default ones: "c 1:3 mr",
	// "b 8:* rwm", "a *:* r".
	DeviceCgroupRules []string
	// UsernsMode is Docker's user namespace mode ("" or "host").
	UsernsMode string
	// StorageOpt are the storage driver's per-container options (Docker's size=…).
	StorageOpt map[string]string
	// OCIRuntime names the OCI runtime that runs the container (Docker's runtime: "runc").
	OCIRuntime string
	// Annotations are the container's OCI annotations.
	Annotations map[string]string
	// Isolation is the Windows isolation technology; on Linux only "" and "default".
	Isolation string
	// Umask is the container process's umask; nil leaves the runtime's (022).
	Umask *uint32
}

// ContainerFile is a secret or a config a container sees at Target. Either Source is set (a
// host file or folder, bind-mounted read-only as it is: its own owner and mode) or Content is
// (written by the backend at Target, owned by UID:GID, with Mode).
type ContainerFile struct {
	// Kind is "secret" or "config" and Key its compose key: they name it in messages.
	Kind, Key string
	// Target is the absolute path in the container.
	Target  string
	Source  string
	Content []byte `json:",omitempty"`
	UID     int
	GID     int
	Mode    uint32 // permission bits
}

// String names f for messages, never with its content.
func (f ContainerFile) String() string { return f.Kind + " " + f.Key + " at " + f.Target }

// GoString is String, so that %#v does not print the content either.
func (f ContainerFile) GoString() string { return f.String() }

// Namespace modes of ContainerSpec.NetworkMode, IPC and PID, as Docker names them.
const (
	// NamespaceHost shares the host's namespace.
	NamespaceHost = "host"
	// NamespaceNone is a network namespace with only a loopback.
	NamespaceNone = "none"
	// NamespaceContainer joins the namespace of Namespace.Container.
	NamespaceContainer = "container"
	// NamespacePrivate and NamespaceShareable are IPC namespaces of the container's own,
	// the second one joinable by others.
	NamespacePrivate   = "private"
	NamespaceShareable = "shareable"
)

// Namespace is how a container gets one of its namespaces. The zero value is the runtime's
// default: its own, or for the network, the container's Networks. project builds it from the
// compose file (service:NAME already resolved to that service's container); a backend reads
// the fields, never a "container:NAME" string.
type Namespace struct {
	// Mode is "", one of the Namespace… constants, or a network mode only a backend knows
	// (Docker's "bridge"), which the others refuse.
	Mode string
	// Container is the name of the container whose namespace is joined (NamespaceContainer).
	Container string
}

// JoinContainer is the namespace of container name.
func JoinContainer(name string) Namespace {
	return Namespace{Mode: NamespaceContainer, Container: name}
}

// String is the namespace as Docker's API writes it: "", "host", "container:NAME".
func (n Namespace) String() string {
	if n.Mode == NamespaceContainer {
		return n.Mode + ":" + n.Container
	}
	return n.Mode
}

// VolumesFrom mounts the volumes and bind mounts of another container at the same targets.
type VolumesFrom struct {
	// Container is the name of the container whose mounts are taken.
	Container string
	// Mode is "" (as the container has them), "ro" or "rw".
	Mode string
}

// String is the reference as Docker's --volumes-from writes it: NAME[:ro|rw].
func (v VolumesFrom) String() string {
	if v.Mode == "" {
		return v.Container
	}
	return v.Container + ":" + v.Mode
}

// Reference is a container that a spec names, and the compose key that names it.
type Reference struct {
	Key       string // network_mode, ipc, pid, volumes_from
	Container string
}

// References lists the other containers spec needs at its creation: those whose network, IPC
// or PID namespace it joins and those whose volumes it mounts. (Links name containers too,
// but only for name resolution.)
func (s *ContainerSpec) References() []Reference {
	var refs []Reference
	for _, ns := range []struct {
		key string
		ns  Namespace
	}{{"network_mode", s.NetworkMode}, {"ipc", s.IPC}, {"pid", s.PID}} {
		if ns.ns.Mode == NamespaceContainer {
			refs = append(refs, Reference{Key: ns.key, Container: ns.ns.Container})
		}
	}
	for _, vf := range s.VolumesFrom {
		refs = append(refs, Reference{Key: "volumes_from", Container: vf.Container})
	}
	return refs
}

// NetworkAttachment connects a container to a network by the network's runtime name.
type NetworkAttachment struct {
	Network     string
	Aliases     []string
	IPv4Address string
	IPv6Address string
	MacAddress  string
	// Priority orders attachments; the highest is connected first (it gets the default route).
	Priority int
}

// PortSpec publishes a container port. HostPort may be "" (a random port), a number or a
// range "8000-8010".
type PortSpec struct {
	HostIP        string
	HostPort      string
	ContainerPort uint16
	Protocol      string
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount is a bind mount, a volume (named, or anonymous when Source is ""), or a tmpfs.
type Mount struct {
	Type     string
	Source   string // host path for bind, volume name for volume
	Target   string
	ReadOnly bool
	// CreateHostPath creates a missing bind source folder, as Docker does for short syntax.
	CreateHostPath bool
	NoCopy         bool   // volume: do not copy image content into a new volume
	TmpfsSize      int64  // bytes
	TmpfsMode      uint32 // permission bits
}

// RestartPolicy is Docker's restart policy: Name is "no", "always", "on-failure" or
// "unless-stopped".
type RestartPolicy struct {
	Name       string
	MaxRetries int
	// Delay and Window come from deploy.restart_policy: a fixed delay between restarts
	// instead of the back-off, and the span within which MaxRetries counts.
	Delay  time.Duration
	Window time.Duration
}

// Healthcheck is a container healthcheck. Test is ["NONE"] to disable the image's,
// ["CMD", …] or ["CMD-SHELL", "…"].
type Healthcheck struct {
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Ulimit is a resource limit of the container's processes.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Resources are cgroup limits; zero means unlimited / default.
type Resources struct {
	Memory            int64 // bytes
	MemorySwap        int64 // bytes, memory+swap; -1 unlimited
	MemoryReservation int64
	NanoCPUs          int64
	CPUShares         int64
	CPUSet            string
	PidsLimit         int64
	ShmSize           int64
	OomKillDisable    bool

	// Kernel knobs (issue 13): CPU bandwidth and real-time scheduling in µs (zero: unset),
	// swappiness, block I/O, and Docker's Windows-only CPU limits.
	CPUPeriod          int64
	CPUQuota           int64
	CPURealtimePeriod  int64
	CPURealtimeRuntime int64
	// MemorySwappiness is 0…100; nil leaves the kernel's.
	MemorySwappiness *int64
	Blkio            Blkio
	// CPUCount and CPUPercent are Docker's Windows-only CPU limits.
	CPUCount   int64
	CPUPercent float32
}

// Blkio are block I/O weights and throttles (compose blkio_config). Devices are host paths.
type Blkio struct {
	Weight          uint16 // 10…1000; zero: unset
	WeightDevice    []WeightDevice
	DeviceReadBps   []ThrottleDevice
	DeviceReadIOps  []ThrottleDevice
	DeviceWriteBps  []ThrottleDevice
	DeviceWriteIOps []ThrottleDevice
}

// IsZero reports whether b sets nothing.
func (b Blkio) IsZero() bool {
	return b.Weight == 0 && len(b.WeightDevice) == 0 && len(b.DeviceReadBps) == 0 &&
		len(b.DeviceReadIOps) == 0 && len(b.DeviceWriteBps) == 0 && len(b.DeviceWriteIOps) == 0
}

// WeightDevice is the block I/O weight of one device.
type WeightDevice struct {
	Path   string
	Weight uint16
}

// ThrottleDevice is a rate limit on one device: bytes or operations per second.
type ThrottleDevice struct {
	Path string
	Rate uint64
}

// LogConfig selects a log driver and its options (max-size, max-file…).
type LogConfig struct {
	Driver  string
	Options map[string]string
}

// RemoveOptions controls RemoveContainer.
type RemoveOptions struct {
	Force   bool
	Volumes bool
}

// Log streams.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// LogOptions selects which output Logs returns.
type LogOptions struct {
	Follow bool
	// Tail is the number of last lines to return; negative means all.
	Tail  int
	Since time.Time
	Until time.Time
}

// LogLine is one line of a container's output.
type LogLine struct {
	Stream string // Stdout or Stderr
	Time   time.Time
	Text   string // without the trailing newline
}

// AttachStreams are the streams connected by Attach; nil ones are not attached.
type AttachStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Tty means the container has a TTY: output is one raw stream on Stdout.
	Tty bool
}

// ExecSpec is a command run inside a running container.
type ExecSpec struct {
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	Privileged bool
	Tty        bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	// Detach starts the command and returns at once with exit code 0.
	Detach bool
}

// Top is a process listing.
type Top struct {
	Titles    []string
	Processes [][]string
}

// Network is an observed network.
type Network struct {
	ID       string
	Name     string
	Driver   string
	Labels   map[string]string
	Internal bool
	Subnets  []string
}

// NetworkSpec is everything needed to create a network.
type NetworkSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	EnableIPv6 bool
	IPAM       IPAM
}

// IPAM is a network's address management.
type IPAM struct {
	Driver string
	Pools  []IPAMPool
}

// IPAMPool is one subnet of a network.
type IPAMPool struct {
	Subnet  string
	Gateway string
	IPRange string
}

// Volume is an observed volume.
type Volume struct {
	Name       string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	CreatedAt  time.Time
}

// VolumeSpec is everything needed to create a volume.
type VolumeSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
}

// Image is a local image.
type Image struct {
	ID          string // sha256:…
	RepoTags    []string
	RepoDigests []string
	Size        int64
	Created     time.Time
	Labels      map[string]string
}

// PullProgress is one status update of a pull.
type PullProgress struct {
	Ref     string
	Layer   string
	Status  string // "Pulling fs layer", "Downloading", "Pull complete", …
	Current int64
	Total   int64
}

// Event is a container event.
type Event struct {
	Time      time.Time
	Action    string // create, start, die, stop, kill, restart, destroy, health_status, …
	Container string // ID
	Name      string
	Labels    map[string]string
	// ExitCode is set for die events.
	ExitCode int
	// Health is set for health_status events.
	Health string
	// Restarting is set on a die event when the runtime knows that its restart policy brings
	// the container back (the embedded runtime does; Docker's events do not say).
	Restarting bool
}
