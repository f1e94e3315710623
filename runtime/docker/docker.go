// Package docker implements runtime.Runtime over Docker Engine through its API. Containers,
// networks and volumes it creates are ordinary Docker objects: `docker ps` and Docker Compose
// see them, by the Compose labels comp puts on them.
package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"

	"github.com/comp-dev/comp/runtime"
)

// Runtime is the Docker Engine backend. It is safe for concurrent use.
type Runtime struct {
	cli *client.Client

	// The engine's facts for CheckContainerSpec, read once (see engine).
	factsOnce sync.Once
	facts     engineFacts
	factsErr  error

	// apiVersion is the API version negotiated with the engine; buildKit says that builds go
	// through the engine's BuildKit (see useBuildKit), else its classic builder.
	apiVersion string
	buildKit   bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to the engine named by the environment (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH, DOCKER_API_VERSION; the local socket by default), negotiates the API
// version and pings it. An engine that cannot be reached gives runtime.ErrUnavailable.
func New(ctx context.Context) (*Runtime, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("connect to Docker Engine: %w", err))
	}
	ping, err := cli.Ping(ctx)
	if err != nil {
		_ = cli.Close()
		return nil, runtime.Classify(runtime.ErrUnavailable, &unreachableError{host: cli.DaemonHost(), err: err})
	}
	// Settle the API version now: CreateContainer shapes its request by it.
	cli.NegotiateAPIVersionPing(ping)
	api := cli.ClientVersion()
	return &Runtime{cli: cli, apiVersion: api, buildKit: useBuildKit(api, ping.OSType)}, nil
}

// Name returns "docker".
func (r *Runtime) Name() string { return "docker" }

// Close releases the connection to the engine.
func (r *Runtime) Close() error { return r.cli.Close() }

// Info describes the engine: its version, the API version it speaks, its platform and its
// security features.
func (r *Runtime) Info(ctx context.Context) (runtime.Info, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return runtime.Info{}, fmt.Errorf("get Docker Engine version: %w", classify(err))
	}
	info := runtime.Info{
		Runtime:       r.Name(),
		ServerVersion: v.Version,
		APIVersion:    v.APIVersion,
		OS:            v.Os,
		Arch:          v.Arch,
	}
	sys, err := r.cli.Info(ctx)
	if err != nil {
		return runtime.Info{}, fmt.Errorf("get Docker Engine info: %w", classify(err))
	}
	for _, opt := range sys.SecurityOptions {
		// "name=seccomp,profile=default"
		for _, kv := range strings.Split(opt, ",") {
			if name, ok := strings.CutPrefix(kv, "name="); ok {
				info.Features = append(info.Features, name)
			}
		}
	}
	if sys.CgroupVersion != "" {
		info.Features = append(info.Features, "cgroupv"+sys.CgroupVersion)
	}
	if r.buildKit {
		// Builds have RUN --mount and build secrets (see buildkit.go).
		info.Features = append(info.Features, "build-mounts")
	}
	sort.Strings(info.Features)
	return info, nil
}

// apiAtLeast reports whether the negotiated API version is v or newer.
func (r *Runtime) apiAtLeast(v string) bool {
	return versions.GreaterThanOrEqualTo(r.cli.ClientVersion(), v)
}

// labelFilters selects the objects of opts.Project (any project when empty) that carry
// opts.Labels.
func labelFilters(project string, labels map[string]string) filters.Args {
	f := filters.NewArgs()
	if project != "" {
		f.Add("label", runtime.LabelProject+"="+project)
	} else {
		f.Add("label", runtime.LabelProject)
	}
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	return f
}

// Capabilities: Docker's attach API is its cheap live output; the engine has no project lock.
func (r *Runtime) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{AttachOutput: true}
}

// Recover does nothing: Docker Engine owns its containers and restarts them itself.
func (r *Runtime) Recover(ctx context.Context, project string) error { return nil }

// LockProject holds nothing: the engine has no lock a client could take for a project, and
// Docker Compose takes none either (Capabilities.ProjectLock is false).
func (r *Runtime) LockProject(ctx context.Context, project string) (func(), error) {
	return func() {}, nil
}

// CheckContainerSpec refuses before anything is made what the engine would refuse only after
// the container was created, or would drop: secrets and configs written into a read-only
// container (checkFiles), a start_interval an old engine ignores (checkHealthcheck), CDI
// devices on an engine that cannot inject them (checkDevices), the kernel knobs the engine has
// no field for or would drop on Linux (checkKnobs). The engine refuses the rest itself with a
// message naming the option.
func (r *Runtime) CheckContainerSpec(spec runtime.ContainerSpec) error {
	if err := checkFiles(spec); err != nil {
		return err
	}
	if err := r.checkHealthcheck(spec); err != nil {
		return err
	}
	if err := r.checkDevices(spec); err != nil {
		return err
	}
	if err := r.checkKnobs(spec); err != nil {
		return fmt.Errorf("container %s: %w", spec.Name, err)
	}
	return nil
}

// CheckNetworkSpec accepts every spec, as CheckContainerSpec does.
func (r *Runtime) CheckNetworkSpec(spec runtime.NetworkSpec) error { return nil }

// checkHealthcheck refuses healthcheck.start_interval on an engine older than API 1.44, which
// would drop it without a word, as Docker Compose refuses it.
func (r *Runtime) checkHealthcheck(spec runtime.ContainerSpec) error {
	if hc := spec.Healthcheck; hc != nil && hc.StartInterval != 0 && !r.apiAtLeast("1.44") {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
			"healthcheck.start_interval needs Docker Engine 25 or later (API 1.44), and this engine speaks API %s: remove start_interval (probes then run every interval during start_period), upgrade the engine, or use --runtime embedded",
			r.cli.ClientVersion()))
	}
	return nil
}
