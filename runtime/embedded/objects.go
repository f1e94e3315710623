package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
	"github.com/comp-dev/comp/runtime/embedded/volume"
)

// Networks are recorded with their labels so that projects converge and tear down as on
// Docker, but until bridge networking lands (issue 4) a container on a network gets its own
// network namespace with only loopback: containers cannot reach each other yet.

func (r *Runtime) networkPath(name string) string {
	return filepath.Join(r.layout.Root, "networks", name+".json")
}

// ListNetworks lists the recorded networks matching opts.
func (r *Runtime) ListNetworks(ctx context.Context, opts runtime.ListOptions) ([]runtime.Network, error) {
	entries, err := os.ReadDir(filepath.Join(r.layout.Root, "networks"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []runtime.Network
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		n, err := r.InspectNetwork(ctx, name)
		if err != nil || !volume.Matches(n.Labels, opts) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// InspectNetwork returns a recorded network.
func (r *Runtime) InspectNetwork(ctx context.Context, idOrName string) (runtime.Network, error) {
	if err := state.CheckName("network", idOrName); err != nil {
		return runtime.Network{}, err
	}
	var n runtime.Network
	if err := state.ReadJSON(r.networkPath(idOrName), &n); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return n, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such network: %s", idOrName))
		}
		return n, err
	}
	return n, nil
}

// CreateNetwork records a network.
func (r *Runtime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error) {
	if err := state.CheckName("network", spec.Name); err != nil {
		return runtime.Network{}, err
	}
	if spec.Driver != "" && spec.Driver != "bridge" {
		return runtime.Network{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("create network %s: driver %q is not supported by the embedded runtime (only bridge)", spec.Name, spec.Driver))
	}
	if n, err := r.InspectNetwork(ctx, spec.Name); err == nil {
		return n, runtime.Classify(runtime.ErrConflict, fmt.Errorf("network %s already exists", spec.Name))
	}
	n := runtime.Network{ID: spec.Name, Name: spec.Name, Driver: "bridge", Labels: spec.Labels, Internal: spec.Internal}
	if err := state.WriteJSON(r.networkPath(spec.Name), n); err != nil {
		return n, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return n, nil
}

// RemoveNetwork removes a recorded network no container is attached to.
func (r *Runtime) RemoveNetwork(ctx context.Context, idOrName string) error {
	if _, err := r.InspectNetwork(ctx, idOrName); err != nil {
		return err
	}
	records, _ := r.layout.Records()
	for _, rec := range records {
		for _, a := range rec.Spec.Networks {
			if a.Network == idOrName && rec.Spec.NetworkMode == "" {
				return runtime.Classify(runtime.ErrConflict, fmt.Errorf("remove network %s: container %s is attached to it", idOrName, rec.Name))
			}
		}
	}
	return os.Remove(r.networkPath(idOrName))
}

// ListVolumes lists the volumes matching opts.
func (r *Runtime) ListVolumes(ctx context.Context, opts runtime.ListOptions) ([]runtime.Volume, error) {
	return r.volumes.List(opts)
}

// InspectVolume returns one volume.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	return r.volumes.Inspect(name)
}

// CreateVolume creates a named volume.
func (r *Runtime) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error) {
	return r.volumes.Create(spec)
}

// RemoveVolume removes a volume unless a container mounts it (or force).
func (r *Runtime) RemoveVolume(ctx context.Context, name string, force bool) error {
	return r.volumes.Remove(name, force, r.volumeInUse)
}

func (r *Runtime) volumeInUse(name string) bool {
	records, _ := r.layout.Records()
	for _, rec := range records {
		for _, m := range rec.Spec.Mounts {
			if m.Type == runtime.MountVolume && m.Source == name {
				return true
			}
		}
	}
	return false
}

func (r *Runtime) imageInUse(id string) bool {
	records, _ := r.layout.Records()
	for _, rec := range records {
		if rec.ImageID == id {
			return true
		}
	}
	return false
}

// ListImages lists the local images.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	imgs, err := r.images.List()
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, img.Runtime())
	}
	return out, nil
}

// InspectImage finds a local image.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	img, err := r.images.Get(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	return img.Runtime(), nil
}

// PullImage pulls an image into comp's store.
func (r *Runtime) PullImage(ctx context.Context, ref string, progress func(runtime.PullProgress)) error {
	_, err := r.images.Pull(ctx, ref, progress)
	return err
}

// RemoveImage removes an image no container uses (or force).
func (r *Runtime) RemoveImage(ctx context.Context, ref string, force bool) error {
	_, err := r.images.Remove(ref, force, r.imageInUse)
	return err
}

// LoadImages stores the images of a docker-archive or OCI-layout tarball.
func (r *Runtime) LoadImages(ctx context.Context, rd io.Reader) ([]runtime.Image, error) {
	imgs, err := r.images.Load(rd)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, img.Runtime())
	}
	return out, nil
}

// PruneImages removes untagged images no container uses, and unreferenced layers.
func (r *Runtime) PruneImages(ctx context.Context) ([]string, error) {
	return r.images.Prune(r.imageInUse)
}
