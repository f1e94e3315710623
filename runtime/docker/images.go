package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/comp-dev/comp/runtime"
)

// ListImages lists the engine's local images.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	list, err := r.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", classify(err))
	}
	out := make([]runtime.Image, 0, len(list))
	for _, img := range list {
		out = append(out, runtime.Image{
			ID:          img.ID,
			RepoTags:    img.RepoTags,
			RepoDigests: img.RepoDigests,
			Size:        img.Size,
			Created:     time.Unix(img.Created, 0),
			Labels:      img.Labels,
		})
	}
	return out, nil
}

// InspectImage returns a local image by reference or ID, or runtime.ErrNotFound.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	img, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("inspect image %s: %w", ref, classify(err))
	}
	out := runtime.Image{
		ID:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Created:     parseTime(img.Created),
	}
	if img.Config != nil {
		out.Labels = img.Config.Labels
	}
	return out, nil
}

// PullImage pulls ref (":latest" when it names no tag or digest); progress, when not nil,
// receives the engine's status updates. An image the registry does not have (or denies) gives
// runtime.ErrNotFound, a registry that cannot be reached runtime.ErrUnavailable.
func (r *Runtime) PullImage(ctx context.Context, ref string, progress func(runtime.PullProgress)) error {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("pull image %s: %w", ref, err))
	}
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, classifyPull(err))
	}
	defer rc.Close()
	if err := decodePull(rc, ref, progress); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// pullMessage is one message of the engine's JSON progress stream.
type pullMessage struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// decodePull reads a pull's progress stream to its end, reporting each status to progress,
// and returns the first error message in it, classified.
func decodePull(rd io.Reader, ref string, progress func(runtime.PullProgress)) error {
	dec := json.NewDecoder(rd)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return classify(err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return classifyPull(errors.New(m.ErrorDetail.Message))
		}
		if m.Error != "" {
			return classifyPull(errors.New(m.Error))
		}
		if progress != nil {
			progress(runtime.PullProgress{
				Ref:     ref,
				Layer:   m.ID,
				Status:  m.Status,
				Current: m.ProgressDetail.Current,
				Total:   m.ProgressDetail.Total,
			})
		}
	}
}

// RemoveImage removes a local image; one that a container uses gives runtime.ErrConflict
// unless force.
func (r *Runtime) RemoveImage(ctx context.Context, ref string, force bool) error {
	if _, err := r.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: force, PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, classify(err))
	}
	return nil
}

// LoadImages loads a docker-archive (or OCI-layout) tarball into the engine, as `docker load`.
func (r *Runtime) LoadImages(ctx context.Context, rd io.Reader) ([]runtime.Image, error) {
	resp, err := r.cli.ImageLoad(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", classify(err))
	}
	defer resp.Body.Close()
	var out []runtime.Image
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Stream      string
			Error       string
			ErrorDetail struct{ Message string }
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return out, fmt.Errorf("load images: %w", err)
		}
		if msg.Error != "" {
			return out, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("load images: %s", msg.Error))
		}
		// "Loaded image: NAME:TAG" or "Loaded image ID: sha256:…"
		for _, prefix := range []string{"Loaded image: ", "Loaded image ID: "} {
			if ref, ok := strings.CutPrefix(strings.TrimSpace(msg.Stream), prefix); ok {
				img, err := r.InspectImage(ctx, ref)
				if err != nil {
					return out, err
				}
				out = append(out, img)
			}
		}
	}
	return out, nil
}

// PruneImages removes dangling images (untagged, used by no container), as `docker image
// prune` does, and returns the IDs it deleted.
func (r *Runtime) PruneImages(ctx context.Context) ([]string, error) {
	report, err := r.cli.ImagesPrune(ctx, filters.NewArgs(filters.Arg("dangling", "true")))
	if err != nil {
		return nil, fmt.Errorf("prune images: %w", classify(err))
	}
	var out []string
	for _, d := range report.ImagesDeleted {
		if d.Deleted != "" {
			out = append(out, d.Deleted)
		}
	}
	return out, nil
}
