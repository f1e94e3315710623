package embedded

import (
	"context"
	"path/filepath"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/build"
)

// BuildImage builds spec into the image store with the embedded builder (package build): RUN
// steps run as containers of this process, on the host's network. The builds' scratch folders
// live under <root>/build, their cache beside the image store, the folders of
// RUN --mount=type=cache under <root>/build-cache.
func (r *Runtime) BuildImage(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error) {
	b := &build.Builder{Images: r.images, Containers: r.mgr, Dir: filepath.Join(r.layout.Root, "build"),
		CacheDir: filepath.Join(r.layout.Root, "build-cache")}
	return b.Build(ctx, spec, progress)
}

// CheckBuildSpec says whether the embedded builder can honour spec's build: keys (see
// build.CheckSpec); what the Dockerfile asks for is checked as the build reads it, and an
// error names its line.
func (r *Runtime) CheckBuildSpec(spec runtime.BuildSpec) error { return build.CheckSpec(spec) }
