package embedded

import (
	"context"
	"fmt"
	"io"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/network"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Networks are Linux bridges made by the network package; their state is shared through files
// with every comp process and supervisor.

func (r *Runtime) networks() (*network.Manager, error) {
	return network.NewManager(r.layout.Networks())
}

func toNetwork(info network.Info) runtime.Network {
	return runtime.Network{ID: info.Name, Name: info.Name, Driver: "bridge", Labels: info.Labels,
		Internal: info.Internal, Subnets: []string{info.Subnet.String()}}
}

// ListNetworks lists comp's networks matching opts.
func (r *Runtime) ListNetworks(ctx context.Context, opts runtime.ListOptions) ([]runtime.Network, error) {
	m, err := r.networks()
	if err != nil {
		return nil, err
	}
	infos, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []runtime.Network
	for _, info := range infos {
		if opts.Match(info.Labels) {
			out = append(out, toNetwork(info))
		}
	}
	return out, nil
}

// InspectNetwork returns a network by name.
func (r *Runtime) InspectNetwork(ctx context.Context, idOrName string) (runtime.Network, error) {
	if err := state.CheckName("network", idOrName); err != nil {
		return runtime.Network{}, err
	}
	m, err := r.networks()
	if err != nil {
		return runtime.Network{}, err
	}
	info, err := m.Get(idOrName)
	if err != nil {
		return runtime.Network{}, err
	}
	return toNetwork(info), nil
}

// CreateNetwork creates a bridge network.
func (r *Runtime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error) {
	if err := state.CheckName("network", spec.Name); err != nil {
		return runtime.Network{}, err
	}
	m, err := r.networks()
	if err != nil {
		return runtime.Network{}, err
	}
	info, err := m.Create(spec)
	if err != nil {
		return runtime.Network{}, err
	}
	return toNetwork(info), nil
}

// RemoveNetwork removes a network no container is attached to.
func (r *Runtime) RemoveNetwork(ctx context.Context, idOrName string) error {
	if err := state.CheckName("network", idOrName); err != nil {
		return err
	}
	records, _ := r.layout.Records()
	for _, rec := range records {
		for _, a := range rec.Spec.Networks {
			if a.Network == idOrName && rec.Spec.NetworkMode == (runtime.Namespace{}) {
				return runtime.Classify(runtime.ErrConflict, fmt.Errorf("remove network %s: container %s is attached to it", idOrName, rec.Name))
			}
		}
	}
	m, err := r.networks()
	if err != nil {
		return err
	}
	return m.Remove(idOrName)
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
