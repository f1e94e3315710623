package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// Preflight runs the checks that must pass before plan changes anything: fixed host ports are
// free (CheckPorts), rt can make every container and network (CheckSupported), and every
// container a spec refers to exists or is made by the plan (CheckReferences).
func Preflight(ctx context.Context, plan *planner.Plan, rt Engine) error {
	if err := CheckPorts(plan); err != nil {
		return err
	}
	if err := CheckSupported(plan, rt); err != nil {
		return err
	}
	return CheckReferences(ctx, plan, rt)
}

// CheckBuilds asks rt, when it is a runtime.BuildChecker, about every image plan builds, so
// that a build its builder cannot do stops before any image is built.
func CheckBuilds(plan *planner.Plan, rt any) error {
	bc, ok := rt.(runtime.BuildChecker)
	if !ok {
		return nil
	}
	for _, st := range plan.Steps {
		if st.Build != nil && st.Action == planner.BuildImage {
			if err := bc.CheckBuildSpec(*st.Build); err != nil {
				return fmt.Errorf("service %q: %w", st.Service, err)
			}
		}
	}
	return nil
}

// CheckSupported asks rt about every image plan builds (CheckBuilds), and every container and
// network it would create, so that one it cannot make stops `up` before anything is created
// rather than half-way.
func CheckSupported(plan *planner.Plan, rt runtime.SpecChecker) error {
	if err := CheckBuilds(plan, rt); err != nil {
		return err
	}
	for _, st := range plan.Steps {
		switch {
		case st.NetworkSpec != nil && st.Action == planner.CreateNetwork:
			if err := rt.CheckNetworkSpec(*st.NetworkSpec); err != nil {
				return err
			}
		case st.Spec != nil && st.Action == planner.CreateContainer:
			if err := rt.CheckContainerSpec(*st.Spec); err != nil {
				return fmt.Errorf("service %q: %w", st.Service, err)
			}
		}
	}
	return nil
}

// CheckReferences fails when a container to create names, in volumes_from, network_mode, ipc
// or pid, a container that neither exists nor is created by plan: the engine would refuse it
// only at that container's creation, after the others were made.
func CheckReferences(ctx context.Context, plan *planner.Plan, rt Engine) error {
	made := map[string]bool{}
	for _, st := range plan.Steps {
		if st.Spec != nil && st.Action == planner.CreateContainer {
			made[st.Spec.Name] = true
		}
	}
	for _, st := range plan.Steps {
		if st.Spec == nil || st.Action != planner.CreateContainer {
			continue
		}
		for _, ref := range st.Spec.References() {
			if made[ref.Container] {
				continue
			}
			if _, err := rt.InspectContainer(ctx, ref.Container); err != nil {
				if errors.Is(err, runtime.ErrNotFound) {
					return fmt.Errorf("service %q: %s container:%s: no such container (services.%s.%s): create it first, or name another",
						st.Service, ref.Key, ref.Container, st.Service, ref.Key)
				}
				return fmt.Errorf("service %q: %s container:%s: %w", st.Service, ref.Key, ref.Container, err)
			}
		}
	}
	return nil
}
