package project

import (
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/runtime"
)

// BuildSpec is the build of service s (which must have a build: section) for the runtime:
// paths as compose-go resolved them, and tagged with the service's image first.
func BuildSpec(s types.ServiceConfig) runtime.BuildSpec {
	b := s.Build
	spec := runtime.BuildSpec{
		Context:          b.Context,
		Dockerfile:       b.Dockerfile,
		DockerfileInline: b.DockerfileInline,
		Target:           b.Target,
		NoCache:          b.NoCache,
		Pull:             b.Pull,
		Tags:             append([]string{s.Image}, b.Tags...),
	}
	if len(b.Args) > 0 {
		spec.Args = map[string]*string(b.Args)
	}
	if len(b.Labels) > 0 {
		spec.Labels = map[string]string(b.Labels)
	}
	return spec
}
