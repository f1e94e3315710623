package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/volume"

	"github.com/comp-dev/comp/runtime"
)

// ListVolumes lists the volumes selected by opts (opts.All is ignored).
func (r *Runtime) ListVolumes(ctx context.Context, opts runtime.ListOptions) ([]runtime.Volume, error) {
	resp, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilters(opts.Project, opts.Labels)})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", classify(err))
	}
	out := make([]runtime.Volume, 0, len(resp.Volumes))
	for _, v := range resp.Volumes {
		if v != nil {
			out = append(out, volumeFromEngine(*v))
		}
	}
	return out, nil
}

// InspectVolume returns one volume by name.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	v, err := r.cli.VolumeInspect(ctx, name)
	if err != nil {
		return runtime.Volume{}, fmt.Errorf("inspect volume %s: %w", name, classify(err))
	}
	return volumeFromEngine(v), nil
}

// CreateVolume creates a volume and returns it as the engine reports it. Like the engine, it
// returns an existing local volume of the same name as it is.
func (r *Runtime) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error) {
	v, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{
		Name:       spec.Name,
		Driver:     spec.Driver,
		DriverOpts: spec.DriverOpts,
		Labels:     spec.Labels,
	})
	if err != nil {
		return runtime.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, classify(err))
	}
	return volumeFromEngine(v), nil
}

// RemoveVolume removes a volume; one that a container uses gives runtime.ErrConflict.
func (r *Runtime) RemoveVolume(ctx context.Context, name string, force bool) error {
	if err := r.cli.VolumeRemove(ctx, name, force); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, classify(err))
	}
	return nil
}

func volumeFromEngine(v volume.Volume) runtime.Volume {
	return runtime.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Labels:     v.Labels,
		Mountpoint: v.Mountpoint,
		CreatedAt:  parseTime(v.CreatedAt),
	}
}
