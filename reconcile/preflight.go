package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// Preflight runs the checks that must pass before plan changes anything: fixed host ports are
// free (CheckPorts), rt can make every container and network (CheckSupported), and every
// container a spec refers to exists or is made by the plan (CheckReferences). extra are
// containers created outside the plan (run's one-off), checked the same way.
func Preflight(ctx context.Context, plan *planner.Plan, rt runtime.Runtime, extra ...runtime.ContainerSpec) error {
	if err := CheckPorts(plan); err != nil {
		return err
	}
	if err := CheckSupported(plan, rt, extra...); err != nil {
		return err
	}
	return CheckReferences(ctx, plan, rt, extra...)
}

// CheckSupported asks rt, when it is a runtime.SpecChecker, about every container and network
// plan would create, so that one it cannot make stops `up` before anything is created rather
// than half-way.
func CheckSupported(plan *planner.Plan, rt runtime.Runtime, extra ...runtime.ContainerSpec) error {
	checker, ok := rt.(runtime.SpecChecker)
	if !ok {
		return nil
	}
	for _, spec := range extra {
		if err := checker.CheckContainerSpec(spec); err != nil {
			return fmt.Errorf("service %q: %w", spec.Labels[runtime.LabelService], err)
		}
	}
	for _, st := range plan.Steps {
		switch {
		case st.NetworkSpec != nil && st.Action == planner.CreateNetwork:
			if err := checker.CheckNetworkSpec(*st.NetworkSpec); err != nil {
				return err
			}
		case st.Spec != nil && (st.Action == planner.CreateContainer || st.Action == planner.RecreateContainer):
			if err := checker.CheckContainerSpec(*st.Spec); err != nil {
				return fmt.Errorf("service %q: %w", st.Service, err)
			}
		}
	}
	return nil
}

// CheckReferences fails when a container to create names, in volumes_from, network_mode, ipc
// or pid, a container that neither exists nor is created by plan (or is one of extra): the
// engine would refuse it only at that container's creation, after the others were made.
func CheckReferences(ctx context.Context, plan *planner.Plan, rt runtime.Runtime, extra ...runtime.ContainerSpec) error {
	type creation struct {
		service string
		spec    *runtime.ContainerSpec
	}
	var creations []creation
	made := map[string]bool{}
	for _, st := range plan.Steps {
		if st.Spec != nil && (st.Action == planner.CreateContainer || st.Action == planner.RecreateContainer) {
			creations = append(creations, creation{st.Service, st.Spec})
			made[st.Spec.Name] = true
		}
	}
	for i := range extra {
		creations = append(creations, creation{extra[i].Labels[runtime.LabelService], &extra[i]})
		made[extra[i].Name] = true
	}
	for _, c := range creations {
		for _, ref := range containerReferences(c.spec) {
			if made[ref.name] {
				continue
			}
			if _, err := rt.InspectContainer(ctx, ref.name); err != nil {
				if errors.Is(err, runtime.ErrNotFound) {
					return fmt.Errorf("service %q: %s container:%s: no such container (services.%s.%s): create it first, or name another",
						c.service, ref.key, ref.name, c.service, ref.key)
				}
				return fmt.Errorf("service %q: %s container:%s: %w", c.service, ref.key, ref.name, err)
			}
		}
	}
	return nil
}

// containerReference is a container that a spec's key (volumes_from, network_mode…) names.
type containerReference struct{ key, name string }

// containerReferences lists the containers spec names by "container:NAME".
func containerReferences(spec *runtime.ContainerSpec) []containerReference {
	var refs []containerReference
	for _, m := range []struct{ key, mode string }{{"network_mode", spec.NetworkMode}, {"ipc", spec.IPC}, {"pid", spec.PID}} {
		if name, ok := strings.CutPrefix(m.mode, "container:"); ok {
			refs = append(refs, containerReference{m.key, name})
		}
	}
	for _, vf := range spec.VolumesFrom {
		if rest, ok := strings.CutPrefix(vf, "container:"); ok {
			name, _, _ := strings.Cut(rest, ":")
			refs = append(refs, containerReference{"volumes_from", name})
		}
	}
	return refs
}
