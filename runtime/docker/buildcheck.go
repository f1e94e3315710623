package docker

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// needsBuildKit is what to do about a feature that the Engine's classic builder, which the
// docker runtime drives, does not have.
const needsBuildKit = "needs BuildKit, and comp's docker runtime builds with the Engine's classic builder: " +
	"build with --runtime embedded (comp's own builder has it)"

// CheckBuildSpec says whether the Engine's classic builder can build spec, before anything is
// sent: every build: key it cannot honour, and every Dockerfile feature it lacks (RUN --mount,
// COPY --chmod, heredocs, …), is an error classified runtime.ErrNotImplemented that names the
// key (build.KEY) or the Dockerfile's line and the feature, and what to do.
//
// With the engine's BuildKit (see buildkit.go), only what its build API or its built-in
// Dockerfile frontend lacks is refused.
func (r *Runtime) CheckBuildSpec(spec runtime.BuildSpec) error {
	check := checkBuildKeys
	if r.buildKit {
		check = r.checkBuildKitKeys
	}
	if err := check(spec); err != nil {
		return err
	}
	if fi, err := os.Stat(spec.Context); isURLContext(spec.Context) || err != nil || !fi.IsDir() {
		return nil // newBuildContext says what is wrong with it
	}
	df, err := buildcontext.ReadDockerfile(spec)
	if err != nil {
		return err
	}
	if r.buildKit {
		return r.checkBuildKitDockerfile(df)
	}
	return checkClassicDockerfile(df)
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
