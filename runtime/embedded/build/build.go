// Package build builds images from Dockerfiles for the embedded runtime, with no daemon:
// BuildKit's parser reads the Dockerfile, each RUN runs as a container (container.Manager) on
// an overlay of the stage's layers with a fresh upper folder, and what a step changed becomes
// a layer (its upper folder, tarred with OCI whiteouts). The result goes into the image store
// with image.Store.Put.
//
// Steps that change files (RUN, COPY, ADD, WORKDIR) are cached. A step's key is the state it
// starts from (the diffIDs of the layers and the image config), the instruction after variable
// expansion, and what else it depends on: the environment and user of a RUN, the content and
// modes of the files a COPY or ADD takes from the build context, the state of the stage or
// image it copies from. The index, build-cache.json beside the image store's index, maps a key
// to the layer the step made, found in an image that holds it; removing that image forgets the
// entry. A build whose every step is cached runs no container and stores the same image again.
//
// Every stage the target needs is stored: the target with the build's tags, the others
// untagged (so that their layers stay, for the cache), like the classic Docker builder's
// intermediate images; `image prune` removes them.
//
// Builder.Dir holds one folder per running build (its upper folders, layer tars and overlay
// mounts), locked while the build runs and removed at its end. A crashed build leaves its
// folder, mounts and container behind: the next build removes them.
package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/image"
)

// Builder builds images into an image store. Its methods are safe for concurrent use, also by
// several processes sharing the store and Dir.
type Builder struct {
	Images *image.Store
	// Containers runs the RUN steps.
	Containers *container.Manager
	// Dir holds the running builds' scratch folders. Keep its path short: the overlay options
	// of a RUN name every layer folder and must fit in a page.
	Dir string
	// CacheDir holds the folders of RUN --mount=type=cache, kept from one build to the next.
	CacheDir string
}

// Build builds spec and tags the result with spec.Tags; it returns the image ID. progress (may
// be nil) receives one BuildProgress per step ("[2/6] RUN make", with Text "CACHED" when the
// cache had it) and the output of RUN steps, one line at a time. An error in the Dockerfile, a
// step that cannot run or a RUN that fails names the file and line ("Dockerfile:7: …").
func (b *Builder) Build(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error) {
	if progress == nil {
		progress = func(runtime.BuildProgress) {}
	}
	if spec.Context == "" {
		return "", runtime.Classify(runtime.ErrInvalidArgument, errors.New("build: no context folder"))
	}
	contextDir, err := filepath.Abs(spec.Context)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build: context %s is not a folder", spec.Context))
	}
	spec.Context = contextDir
	opts, err := checkSpec(spec)
	if err != nil {
		return "", err
	}
	df, err := readDockerfile(spec)
	if err != nil {
		return "", err
	}
	ignore, err := buildcontext.ReadIgnore(spec)
	if err != nil {
		return "", err
	}
	buildArgs := resolveArgs(spec.Args)
	global, err := df.globalArgs(buildArgs)
	if err != nil {
		return "", err
	}
	target, err := df.target(spec.Target)
	if err != nil {
		return "", err
	}
	order, bases, total, err := df.plan(target, global)
	if err != nil {
		return "", err
	}
	cache, err := openCache(b.Images.Root())
	if err != nil {
		return "", err
	}
	sess, err := b.openSession()
	if err != nil {
		return "", err
	}
	defer sess.close()

	bd := &build{
		Builder:   b,
		spec:      spec,
		opts:      opts,
		df:        df,
		context:   &contextFS{dir: contextDir, ignore: ignore},
		buildArgs: buildArgs,
		global:    global,
		bases:     bases,
		total:     total,
		progress:  progress,
		cache:     cache,
		sess:      sess,
		stages:    map[int]*state{},
		pulled:    map[string]image.Image{},
	}
	var id string
	for _, i := range order {
		st, err := bd.runStage(ctx, i)
		if err != nil {
			return "", err
		}
		tags := spec.Tags
		if i != target {
			if !st.made() {
				// Its layers are in the store already: nothing to store.
				if err := bd.recordSteps(st, ""); err != nil {
					return "", err
				}
				continue
			}
			tags = nil
		} else if len(spec.Labels) > 0 {
			if st.config.Labels == nil {
				st.config.Labels = map[string]string{}
			}
			maps.Copy(st.config.Labels, spec.Labels)
		}
		img, err := bd.commit(ctx, st, tags)
		if err != nil {
			return "", err
		}
		id = img.ID
	}
	return id, nil
}

// build is one run of Builder.Build.
type build struct {
	*Builder
	spec      runtime.BuildSpec
	opts      *options
	df        *dockerfile
	context   *contextFS
	buildArgs map[string]string
	global    *vars
	bases     []string // each stage's base name, expanded
	total     int      // steps of the stages to build
	done      int      // steps begun
	progress  func(runtime.BuildProgress)
	cache     *cache
	sess      *session
	stages    map[int]*state         // the stages built so far
	pulled    map[string]image.Image // images pulled by this build, by reference
}

// resolveArgs gives each build arg its value: a nil one comes from the environment, and is
// left out when the environment has none.
func resolveArgs(args map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range args {
		if v != nil {
			out[k] = *v
		} else if ev, ok := os.LookupEnv(k); ok {
			out[k] = ev
		}
	}
	return out
}

// step reports the start of the next step and returns its label, "[2/6] RUN make".
func (bd *build) step(text string) string {
	bd.done++
	label := fmt.Sprintf("[%d/%d] %s", bd.done, bd.total, firstLine(strings.TrimSpace(text)))
	return label
}
