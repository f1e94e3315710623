package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/network"

	"github.com/comp-dev/comp/runtime"
)

// ListNetworks lists the networks selected by opts (opts.All is ignored).
func (r *Runtime) ListNetworks(ctx context.Context, opts runtime.ListOptions) ([]runtime.Network, error) {
	list, err := r.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilters(opts.Project, opts.Labels)})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", classify(err))
	}
	out := make([]runtime.Network, 0, len(list))
	for _, n := range list {
		out = append(out, networkFromInspect(n))
	}
	return out, nil
}

// InspectNetwork returns one network by ID or name.
func (r *Runtime) InspectNetwork(ctx context.Context, idOrName string) (runtime.Network, error) {
	n, err := r.cli.NetworkInspect(ctx, idOrName, network.InspectOptions{})
	if err != nil {
		return runtime.Network{}, fmt.Errorf("inspect network %s: %w", idOrName, classify(err))
	}
	return networkFromInspect(n), nil
}

// CreateNetwork creates a network (driver "bridge" unless spec says otherwise) and returns it
// as the engine reports it. A name in use gives runtime.ErrConflict.
func (r *Runtime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error) {
	driver := spec.Driver
	if driver == "" {
		driver = "bridge"
	}
	opts := network.CreateOptions{
		Driver:     driver,
		Internal:   spec.Internal,
		Attachable: spec.Attachable,
		Options:    spec.DriverOpts,
		Labels:     spec.Labels,
	}
	if spec.EnableIPv6 {
		opts.EnableIPv6 = &spec.EnableIPv6
	}
	if spec.IPAM.Driver != "" || len(spec.IPAM.Pools) > 0 {
		opts.IPAM = &network.IPAM{Driver: spec.IPAM.Driver}
		for _, p := range spec.IPAM.Pools {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{
				Subnet:  p.Subnet,
				Gateway: p.Gateway,
				IPRange: p.IPRange,
			})
		}
	}
	resp, err := r.cli.NetworkCreate(ctx, spec.Name, opts)
	if err != nil {
		return runtime.Network{}, fmt.Errorf("create network %s: %w", spec.Name, classify(err))
	}
	n, err := r.cli.NetworkInspect(ctx, resp.ID, network.InspectOptions{})
	if err != nil {
		return runtime.Network{}, fmt.Errorf("inspect network %s: %w", spec.Name, classify(err))
	}
	return networkFromInspect(n), nil
}

// RemoveNetwork removes a network; one that containers still use gives runtime.ErrConflict.
func (r *Runtime) RemoveNetwork(ctx context.Context, idOrName string) error {
	if err := r.cli.NetworkRemove(ctx, idOrName); err != nil {
		return fmt.Errorf("remove network %s: %w", idOrName, classify(err))
	}
	return nil
}

func networkFromInspect(n network.Inspect) runtime.Network {
	out := runtime.Network{
		ID:       n.ID,
		Name:     n.Name,
		Driver:   n.Driver,
		Labels:   n.Labels,
		Internal: n.Internal,
	}
	for _, c := range n.IPAM.Config {
		if c.Subnet != "" {
			out.Subnets = append(out.Subnets, c.Subnet)
		}
	}
	return out
}
