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

// CheckBuilds asks rt about every image plan builds, so that a build its builder cannot do
// stops before any image is built.
func CheckBuilds(plan *planner.Plan, rt runtime.SpecChecker) error {
	for _, st := range plan.Steps {
		if st.Build != nil && st.Action == planner.BuildImage {
			if err := rt.CheckBuildSpec(*st.Build); err != nil {
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
	made := map[string]*planner.Step{}
	for _, st := range plan.Steps {
		if st.Spec != nil && st.Action == planner.CreateContainer {
			made[st.Spec.Name] = st
		}
	}
	for _, st := range plan.Steps {
		if st.Spec == nil || st.Action != planner.CreateContainer {
			continue
		}
		for _, ref := range st.Spec.References() {
			if donor := made[ref.Container]; donor != nil {
				if err := checkIPCDonor(st, ref, donor); err != nil {
					return err
				}
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

// checkIPCDonor refuses an ipc reference to a container the plan makes with a private IPC
// namespace (private, or no ipc key: Docker Engine's default since 20.10 and the embedded
// runtime's), which cannot be joined: the engine would refuse it only when the joiner starts,
// after the donor was made.
func checkIPCDonor(st *planner.Step, ref runtime.Reference, donor *planner.Step) error {
	if ref.Key != "ipc" {
		return nil
	}
	switch donor.Spec.IPC.Mode {
	case "", runtime.NamespacePrivate:
		return fmt.Errorf("service %q: ipc: %s has a private IPC namespace, which no other container can join (services.%s.ipc): set services.%s.ipc: shareable",
			st.Service, ref.Container, st.Service, donor.Service)
	}
	return nil
}
