package project

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/runtime"
)

// BuildSpec is the build of service s (which must have a build: section) for the runtime:
// paths as compose-go resolved them, tagged with the service's image first, its build secrets
// read from the project's top-level secrets:. A build secret that names no top-level secret,
// an external one, or one whose source is missing is runtime.ErrInvalidArgument naming
// services.NAME.build.secrets, so that `up` and `build` stop before anything is built.
func (p *Project) BuildSpec(s types.ServiceConfig) (runtime.BuildSpec, error) {
	b := s.Build
	spec := runtime.BuildSpec{
		Context:          b.Context,
		Dockerfile:       b.Dockerfile,
		DockerfileInline: b.DockerfileInline,
		Target:           b.Target,
		NoCache:          b.NoCache,
		Pull:             b.Pull,
		Tags:             append([]string{s.Image}, b.Tags...),

		Network:       b.Network,
		ShmSize:       int64(b.ShmSize),
		Platforms:     []string(b.Platforms),
		Privileged:    b.Privileged,
		Entitlements:  b.Entitlements,
		Provenance:    b.Provenance,
		SBOM:          b.SBOM,
		CacheFrom:     []string(b.CacheFrom),
		CacheTo:       []string(b.CacheTo),
		NoCacheFilter: []string(b.NoCacheFilter),
		Isolation:     b.Isolation,
	}
	if len(b.Args) > 0 {
		spec.Args = map[string]*string(b.Args)
	}
	if len(b.Labels) > 0 {
		spec.Labels = map[string]string(b.Labels)
	}
	if len(b.ExtraHosts) > 0 {
		spec.ExtraHosts = b.ExtraHosts.AsList(":")
		sort.Strings(spec.ExtraHosts)
	}
	for name, u := range b.Ulimits {
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		spec.Ulimits = append(spec.Ulimits, runtime.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	sort.Slice(spec.Ulimits, func(i, j int) bool { return spec.Ulimits[i].Name < spec.Ulimits[j].Name })
	for _, k := range b.SSH {
		if k.Path != "" {
			spec.SSH = append(spec.SSH, k.ID+"="+k.Path)
		} else {
			spec.SSH = append(spec.SSH, k.ID)
		}
	}
	if len(b.AdditionalContexts) > 0 {
		spec.Contexts = map[string]string{}
		for name, c := range b.AdditionalContexts {
			if dep, ok := strings.CutPrefix(c, "service:"); ok {
				// Another service's image, as Docker Compose gives it: the planner builds
				// that service first (ContextServices).
				other, ok := p.Services[dep]
				if !ok || other.Image == "" {
					return runtime.BuildSpec{}, runtime.Classify(runtime.ErrInvalidArgument,
						fmt.Errorf("services.%s.build.additional_contexts.%s: %s: no such service with an image", s.Name, name, c))
				}
				spec.Contexts[name] = "docker-image://" + other.Image
				continue
			}
			spec.Contexts[name] = contextLocation(b.Context, c)
		}
	}
	for i, ref := range b.Secrets {
		sec, err := p.buildSecret(ref)
		if err != nil {
			return runtime.BuildSpec{}, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("services.%s.build.secrets[%d]: %w", s.Name, i, err))
		}
		spec.Secrets = append(spec.Secrets, sec)
	}
	return spec, nil
}

// contextLocation is an additional context as a builder takes it: a folder made absolute
// (compose-go resolves some forms, not all), any other form as written.
func contextLocation(buildContext, c string) string {
	if strings.Contains(c, "://") || strings.HasPrefix(c, "service:") || strings.HasPrefix(c, "git@") {
		return c
	}
	if !filepath.IsAbs(c) {
		c = filepath.Join(buildContext, c)
	}
	return filepath.Clean(c)
}

// buildSecret reads the top-level secret that ref names, under the ID that a Dockerfile's
// RUN --mount=type=secret,id=ID uses: its target when set, else its source, as Docker Compose
// does. uid, gid and mode are the Dockerfile's to set, on the mount.
func (p *Project) buildSecret(ref types.ServiceSecretConfig) (runtime.BuildSecret, error) {
	top, ok := p.Secrets[ref.Source]
	if !ok {
		return runtime.BuildSecret{}, fmt.Errorf("secret %q is not defined in the top-level secrets:", ref.Source)
	}
	sec := runtime.BuildSecret{ID: ref.Source}
	if ref.Target != "" {
		sec.ID = ref.Target
	}
	switch {
	case bool(top.External):
		return sec, fmt.Errorf("secret %q is external: a build can only read a secret with a file, environment or content source", ref.Source)
	case top.File != "":
		fi, err := os.Stat(top.File)
		if err != nil {
			return sec, fmt.Errorf("secret %q: file %s: %w", ref.Source, top.File, err)
		}
		if fi.IsDir() {
			return sec, fmt.Errorf("secret %q: %s is a folder, not a file", ref.Source, top.File)
		}
		sec.File = top.File
	case top.Environment != "":
		v, ok := p.Environment[top.Environment]
		if !ok {
			v, ok = os.LookupEnv(top.Environment)
		}
		if !ok {
			return sec, fmt.Errorf("secret %q: environment variable %s is not set", ref.Source, top.Environment)
		}
		sec.Value = []byte(v)
	case top.Content != "":
		sec.Value = []byte(top.Content)
	default:
		return sec, fmt.Errorf("secret %q has no file, environment or content source", ref.Source)
	}
	return sec, nil
}

// ContextServices lists the services whose images s's build takes as additional contexts
// (service:NAME), in name order: their images must be there before s is built.
func ContextServices(s types.ServiceConfig) []string {
	if s.Build == nil {
		return nil
	}
	var out []string
	for _, c := range s.Build.AdditionalContexts {
		if dep, ok := strings.CutPrefix(c, "service:"); ok {
			out = append(out, dep)
		}
	}
	sort.Strings(out)
	return out
}
