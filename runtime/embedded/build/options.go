package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// Features names what the builder does beyond the Engine's classic builder, for `comp
// version`: RUN --mount and build secrets; COPY --exclude and --parents; named contexts.
const Features = "build-mounts, build-exclude, build-contexts"

// CheckSpec says whether the embedded builder can honour every key of spec's build: section
// that is not the Dockerfile's (which Build checks as it reads it): an error classified
// runtime.ErrNotImplemented names the first key it cannot, as build.KEY, and what to do.
func CheckSpec(spec runtime.BuildSpec) error {
	_, err := checkSpec(spec)
	return err
}

// options are the build keys checked and made ready for the steps.
type options struct {
	// network is the RUN network: "host" or "" (none).
	network string
	// contexts are the named contexts, by name.
	contexts map[string]*namedContext
	// secrets are the build secrets, by ID.
	secrets map[string]runtime.BuildSecret
	// ssh are the SSH agent sockets of build.ssh, by ID.
	ssh map[string]string
}

// namedContext is a build.additional_contexts entry the builder can use: a folder (with its
// own .dockerignore rules) or an image.
type namedContext struct {
	name  string
	dir   *contextFS // a folder
	image string     // docker-image://REF
}

func notImplemented(format string, args ...any) error {
	return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
}

// checkSpec checks the keys of spec that the Dockerfile does not hold, and prepares them.
func checkSpec(spec runtime.BuildSpec) (*options, error) {
	opts := &options{network: "host", contexts: map[string]*namedContext{}, secrets: map[string]runtime.BuildSecret{}, ssh: map[string]string{}}
	switch spec.Network {
	case "", "default", "host":
	case "none":
		opts.network = ""
	default:
		return nil, notImplemented("build.network %q: the embedded builder runs RUN on the host's network or none (network: none)", spec.Network)
	}
	for _, e := range spec.SSH {
		id, sock, err := agentSocket(e)
		if err != nil {
			return nil, err
		}
		opts.ssh[id] = sock
	}
	host := "linux/" + goruntime.GOARCH
	for _, p := range spec.Platforms {
		if p != host && p != "linux" {
			return nil, notImplemented("build.platforms %s: the embedded builder builds for %s only (no emulation, no multi-platform images)", p, host)
		}
	}
	for _, e := range spec.Entitlements {
		switch e {
		case "network.host", "security.insecure":
			// Nothing to allow: RUN runs on the host's network already, and BuildKit's parser
			// (as built here) knows no RUN --security.
		default:
			return nil, notImplemented("build.entitlements %q: the embedded builder knows network.host and security.insecure only", e)
		}
	}
	for key, v := range map[string]string{"provenance": spec.Provenance, "sbom": spec.SBOM} {
		switch strings.ToLower(v) {
		case "", "false", "0":
		default:
			return nil, notImplemented("build.%s: the embedded builder makes no attestations; remove build.%s, or build with docker buildx", key, key)
		}
	}
	if len(spec.CacheFrom) > 0 {
		return nil, notImplemented("build.cache_from: the embedded builder uses its own local cache only, and cannot import one; remove build.cache_from")
	}
	if len(spec.CacheTo) > 0 {
		return nil, notImplemented("build.cache_to: the embedded builder cannot export its cache; remove build.cache_to")
	}
	switch spec.Isolation {
	case "", "default":
	default:
		return nil, notImplemented("build.isolation %q: only the default isolation exists on Linux", spec.Isolation)
	}
	for _, h := range spec.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); !ok || name == "" || ip == "" {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.extra_hosts %q: want NAME:IP", h))
		}
	}
	for name, loc := range spec.Contexts {
		nc, err := openContext(name, loc)
		if err != nil {
			return nil, err
		}
		opts.contexts[name] = nc
	}
	for _, s := range spec.Secrets {
		if s.ID == "" {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, errors.New("build.secrets: a secret without an ID"))
		}
		opts.secrets[s.ID] = s
	}
	return opts, nil
}

// agentSocket reads a build.ssh entry: "ID" is the agent of SSH_AUTH_SOCK, "ID=PATH" the
// agent listening at PATH. The embedded builder forwards an agent's socket; key files (which
// BuildKit serves through an agent of its own) are refused with what to do.
func agentSocket(entry string) (id, sock string, err error) {
	id, sock, named := strings.Cut(entry, "=")
	if id == "" {
		id = "default"
	}
	if !named || sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return "", "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.ssh %s: SSH_AUTH_SOCK is not set: start an ssh-agent, or give its socket as %s=PATH", entry, id))
		}
	}
	fi, err := os.Stat(sock)
	switch {
	case err != nil:
		return "", "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.ssh %s: %w", entry, err))
	case fi.Mode()&os.ModeSocket == 0:
		return "", "", notImplemented("build.ssh %s: %s is not an agent's socket; the embedded builder forwards an ssh-agent only, "+
			"not key files: load the key into an agent (ssh-add) and give its socket", entry, sock)
	}
	return id, sock, nil
}

// openContext checks an additional context: a folder that exists, or docker-image://REF.
func openContext(name, loc string) (*namedContext, error) {
	switch {
	case strings.HasPrefix(loc, "docker-image://"):
		ref := strings.TrimPrefix(loc, "docker-image://")
		if ref == "" {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.additional_contexts.%s: docker-image:// names no image", name))
		}
		return &namedContext{name: name, image: ref}, nil
	case strings.Contains(loc, "://") || strings.HasPrefix(loc, "git@"):
		return nil, notImplemented("build.additional_contexts.%s: %s: the embedded builder takes a local folder or docker-image://REF only "+
			"(no URL, git or oci-layout contexts); fetch it into a folder", name, loc)
	}
	dir, err := filepath.Abs(loc)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.additional_contexts.%s: %s is not a folder", name, loc))
	}
	ignore, err := buildcontext.ReadIgnore(runtime.BuildSpec{Context: dir, DockerfileInline: "-"})
	if err != nil {
		return nil, err
	}
	return &namedContext{name: name, dir: &contextFS{dir: dir, ignore: ignore}}, nil
}

// noCache reports whether build.no_cache_filter names stage i (by name or number).
func (bd *build) noCache(i int) bool {
	name := bd.df.stages[i].Name
	return slices.ContainsFunc(bd.spec.NoCacheFilter, func(f string) bool {
		return strings.EqualFold(f, name) && name != "" || f == fmt.Sprint(i)
	})
}
