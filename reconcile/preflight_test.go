package reconcile

import (
	"context"
	"errors"
	"strings"
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

func TestCheckReferencesNeedsTheContainersSpecsName(t *testing.T) {
	rt := newFake()
	rt.containers["external"] = runtime.Container{ID: "external", Name: "external"}
	create := func(service string, spec runtime.ContainerSpec) *planner.Step {
		spec.Name = "p-" + service + "-1"
		return &planner.Step{Action: planner.CreateContainer, Service: service, Spec: &spec}
	}
	db := create("db", runtime.ContainerSpec{})
	for _, tc := range []struct {
		what  string
		plan  []*planner.Step
		extra []runtime.ContainerSpec
		want  string // "" for no error
	}{
		{"a container the plan creates", []*planner.Step{db, create("web", runtime.ContainerSpec{VolumesFrom: []string{"container:p-db-1:ro"}})}, nil, ""},
		{"a container that exists", []*planner.Step{create("web", runtime.ContainerSpec{NetworkMode: "container:external", IPC: "container:external"})}, nil, ""},
		{"a missing volumes_from source", []*planner.Step{db, create("web", runtime.ContainerSpec{VolumesFrom: []string{"container:nope:rw"}})}, nil,
			`service "web": volumes_from container:nope: no such container (services.web.volumes_from)`},
		{"a missing network_mode container", []*planner.Step{create("web", runtime.ContainerSpec{NetworkMode: "container:gone"})}, nil,
			`service "web": network_mode container:gone: no such container (services.web.network_mode)`},
		{"run's one-off on a missing pid container", nil,
			[]runtime.ContainerSpec{{Name: "p-web-run-1", Labels: map[string]string{runtime.LabelService: "web"}, PID: "container:gone"}},
			`service "web": pid container:gone: no such container (services.web.pid)`},
	} {
		err := CheckReferences(context.Background(), &planner.Plan{Steps: tc.plan}, rt, tc.extra...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.what, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.what, err, tc.want)
		}
	}
}
