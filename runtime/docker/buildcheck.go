package docker

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/api/types/versions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// needsBuildKit is what to do about a feature that the Engine's classic builder, which the
// docker runtime drives, does not have.
const needsBuildKit = "needs BuildKit, and comp's docker runtime builds with the Engine's classic builder: " +
	"build with --runtime embedded (comp's own builder has it)"

// CheckBuildSpec says whether the engine can build spec, before anything is sent: every build:
// key its builder cannot honour, and every Dockerfile feature it lacks, is an error classified
// runtime.ErrNotImplemented that names the key (build.KEY) or the Dockerfile's line and the
// feature, and what to do. The builder is the one chooseBuilder picks.
func (r *Runtime) CheckBuildSpec(spec runtime.BuildSpec) error {
	_, err := r.chooseBuilder(spec)
	return err
}

// chooseBuilder picks the engine's builder for spec and checks that it can build it: BuildKit
// (buildkit.go) where the engine has it, else the classic builder. An engine whose BuildKit
// predates API 1.42 ignores build.shm_size and build.ulimits: a build that sets them goes to
// the classic builder when that one can build it, and is refused when it needs BuildKit too.
func (r *Runtime) chooseBuilder(spec runtime.BuildSpec) (buildKit bool, err error) {
	var df *buildcontext.Dockerfile
	if fi, err := os.Stat(spec.Context); err == nil && fi.IsDir() && !isURLContext(spec.Context) {
		// Otherwise newBuildContext says what is wrong with the context.
		if df, err = buildcontext.ReadDockerfile(spec); err != nil {
			return false, err
		}
	}
	classic := func() error {
		if err := checkBuildKeys(spec); err != nil {
			return err
		}
		if df != nil {
			return checkClassicDockerfile(df)
		}
		return nil
	}
	if !r.buildKit {
		return false, classic()
	}
	if err := r.checkBuildKitKeys(spec); err != nil {
		return false, err
	}
	if df != nil {
		if err := r.checkBuildKitDockerfile(df); err != nil {
			return false, err
		}
	}
	if versions.GreaterThanOrEqualTo(r.apiVersion, newerFrontendAPI) || spec.ShmSize == 0 && len(spec.Ulimits) == 0 {
		return true, nil
	}
	key, todo := "shm_size", "remove build.shm_size, or build with --runtime embedded"
	if spec.ShmSize == 0 {
		key, todo = "ulimits", "remove build.ulimits"
	}
	if err := classic(); err != nil {
		return false, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
			"build.%s: this Docker Engine's BuildKit (API %s) ignores it, and its classic builder, which honours it, cannot do this build (%w); %s",
			key, r.apiVersion, err, todo))
	}
	return false, nil
}

// checkBuildKeys checks the build: keys that the classic builder has no option for.
func checkBuildKeys(spec runtime.BuildSpec) error {
	refuse := func(key string) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.%s %s", key, needsBuildKit))
	}
	if len(spec.CacheTo) > 0 {
		return runtime.Classify(runtime.ErrNotImplemented, errors.New("build.cache_to: the Engine's classic builder cannot export its cache; remove build.cache_to"))
	}
	switch {
	case len(spec.Secrets) > 0:
		return refuse("secrets")
	case len(spec.SSH) > 0:
		return refuse("ssh")
	case len(spec.Contexts) > 0:
		return refuse("additional_contexts")
	case len(spec.NoCacheFilter) > 0:
		return refuse("no_cache_filter")
	case len(spec.Platforms) > 1:
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.platforms %v: the Engine's classic builder builds one platform; "+
			"keep one, or build the others with docker buildx", spec.Platforms))
	}
	for _, c := range spec.CacheFrom {
		if strings.Contains(c, "type=") {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.cache_from %q: a cache of type= %s; "+
				"the classic builder takes image names only", c, needsBuildKit))
		}
	}
	for _, e := range spec.Entitlements {
		if e != "network.host" {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.entitlements %q %s", e, needsBuildKit))
		}
	}
	for key, v := range map[string]string{"provenance": spec.Provenance, "sbom": spec.SBOM} {
		switch strings.ToLower(v) {
		case "", "false", "0":
		default:
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.%s: no builder of comp makes attestations; remove build.%s, or build with docker buildx", key, key))
		}
	}
	switch spec.Isolation {
	case "", "default":
	default:
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.isolation %q: only the default isolation exists on Linux", spec.Isolation))
	}
	return nil
}

// classicFlags are the flags the classic builder of Docker Engine 20.10 knows, by
// instruction; any other (RUN --mount, --network, COPY --chmod, --link, --exclude, --parents,
// ADD --checksum, …) is BuildKit's.
var classicFlags = map[string][]string{
	"from":        {"platform"},
	"copy":        {"from", "chown"},
	"add":         {"chown"},
	"healthcheck": {"interval", "timeout", "start-period", "retries"},
}

// checkClassicDockerfile finds the first instruction of df that uses what only BuildKit has.
func checkClassicDockerfile(df *buildcontext.Dockerfile) error {
	for _, node := range df.Parsed.AST.Children {
		name := strings.ToUpper(node.Value)
		if len(node.Heredocs) > 0 {
			return classicRefusal(df, node, name+" with a heredoc (<<EOF)")
		}
		for _, f := range node.Flags {
			flag, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			known := false
			for _, k := range classicFlags[strings.ToLower(node.Value)] {
				known = known || strings.EqualFold(k, flag)
			}
			if !known {
				return classicRefusal(df, node, name+" "+strings.SplitN(f, ",", 2)[0])
			}
		}
	}
	return nil
}

func classicRefusal(df *buildcontext.Dockerfile, node *parser.Node, feature string) error {
	return runtime.Classify(runtime.ErrNotImplemented, df.At(node.Location(), fmt.Errorf("%s %s", feature, needsBuildKit)))
}
