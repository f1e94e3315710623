package reconcile

import (
	"errors"
	"testing"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// checkingRuntime is a runtime that supports no IPv6 network and no network_mode: bridge.
type checkingRuntime struct {
	runtime.Runtime
}

func (checkingRuntime) CheckContainerSpec(spec runtime.ContainerSpec) error {
	if spec.NetworkMode == "bridge" {
		return runtime.ErrNotImplemented
	}
	return nil
}

func (checkingRuntime) CheckNetworkSpec(spec runtime.NetworkSpec) error {
	if spec.EnableIPv6 {
		return runtime.ErrNotImplemented
	}
	return nil
}

func TestCheckSupportedAsksAboutWhatThePlanCreates(t *testing.T) {
	plan := func(steps ...*planner.Step) *planner.Plan { return &planner.Plan{Steps: steps} }
	v6 := &planner.Step{Action: planner.CreateNetwork, NetworkSpec: &runtime.NetworkSpec{Name: "p_v6", EnableIPv6: true}}
	bridge := &planner.Step{Action: planner.CreateContainer, Service: "web", Spec: &runtime.ContainerSpec{NetworkMode: "bridge"}}
	recreate := &planner.Step{Action: planner.RecreateContainer, Service: "web", Spec: &runtime.ContainerSpec{NetworkMode: "bridge"}}
	plain := &planner.Step{Action: planner.CreateContainer, Service: "db", Spec: &runtime.ContainerSpec{}}
	rt := checkingRuntime{}
	for _, tc := range []struct {
		what string
		plan *planner.Plan
		want error
	}{
		{"an IPv6 network", plan(plain, v6), runtime.ErrNotImplemented},
		{"a container on Docker's bridge", plan(plain, bridge), runtime.ErrNotImplemented},
		{"a recreated container on Docker's bridge", plan(recreate), runtime.ErrNotImplemented},
		{"what the runtime supports", plan(plain), nil},
		// A step that only removes is not asked about.
		{"a removal", plan(&planner.Step{Action: planner.RemoveContainer, Spec: &runtime.ContainerSpec{NetworkMode: "bridge"}}), nil},
	} {
		if err := CheckSupported(tc.plan, rt); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
	// A runtime that is no SpecChecker supports everything it is asked.
	if err := CheckSupported(plan(v6, bridge), newFake()); err != nil {
		t.Errorf("a runtime without checks: %v", err)
	}
}
