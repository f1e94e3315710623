package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/comp-dev/comp/internal/fakeruntime"
	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// checker supports no IPv6 network and no network_mode: bridge.
type checker struct{}

func (checker) CheckContainerSpec(spec runtime.ContainerSpec) error {
	if spec.NetworkMode.Mode == "bridge" {
		return runtime.ErrNotImplemented
	}
	return nil
}

func (checker) CheckNetworkSpec(spec runtime.NetworkSpec) error {
	if spec.EnableIPv6 {
		return runtime.ErrNotImplemented
	}
	return nil
}

func (checker) CheckBuildSpec(spec runtime.BuildSpec) error { return nil }

func TestCheckSupportedAsksAboutWhatThePlanCreates(t *testing.T) {
	plan := func(steps ...*planner.Step) *planner.Plan { return &planner.Plan{Steps: steps} }
	bridge := runtime.Namespace{Mode: "bridge"}
	v6 := &planner.Step{Action: planner.CreateNetwork, NetworkSpec: &runtime.NetworkSpec{Name: "p_v6", EnableIPv6: true}}
	onBridge := &planner.Step{Action: planner.CreateContainer, Service: "web", Spec: &runtime.ContainerSpec{NetworkMode: bridge}}
	recreate := &planner.Step{Action: planner.CreateContainer, Service: "web", Recreating: true, Spec: &runtime.ContainerSpec{NetworkMode: bridge}}
	plain := &planner.Step{Action: planner.CreateContainer, Service: "db", Spec: &runtime.ContainerSpec{}}
	for _, tc := range []struct {
		what string
		plan *planner.Plan
		want error
	}{
		{"an IPv6 network", plan(plain, v6), runtime.ErrNotImplemented},
		{"a container on Docker's bridge", plan(plain, onBridge), runtime.ErrNotImplemented},
		{"a recreated container on Docker's bridge", plan(recreate), runtime.ErrNotImplemented},
		{"what the runtime supports", plan(plain), nil},
		// A step that only removes is not asked about.
		{"a removal", plan(&planner.Step{Action: planner.RemoveContainer, Spec: &runtime.ContainerSpec{NetworkMode: bridge}}), nil},
	} {
		if err := CheckSupported(tc.plan, checker{}); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
}

// buildChecker builds nothing with build secrets.
type buildChecker struct{ checker }

func (buildChecker) CheckBuildSpec(spec runtime.BuildSpec) error {
	if len(spec.Secrets) > 0 {
		return runtime.ErrNotImplemented
	}
	return nil
}

func TestCheckSupportedAsksAboutTheBuilds(t *testing.T) {
	secret := &planner.Step{Action: planner.BuildImage, Service: "app", Build: &runtime.BuildSpec{Secrets: []runtime.BuildSecret{{ID: "x"}}}}
	plain := &planner.Step{Action: planner.BuildImage, Service: "web", Build: &runtime.BuildSpec{}}
	plan := &planner.Plan{Steps: []*planner.Step{plain, secret}}
	if err := CheckSupported(plan, buildChecker{}); !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), `service "app"`) {
		t.Errorf("a build with secrets = %v, want ErrNotImplemented naming service app", err)
	}
	if err := CheckBuilds(plan, checker{}); err != nil {
		t.Errorf("a runtime whose builder can do it all: %v", err)
	}
	if err := CheckBuilds(&planner.Plan{Steps: []*planner.Step{plain}}, buildChecker{}); err != nil {
		t.Errorf("a build the runtime can do = %v", err)
	}
}

func TestCheckReferencesNeedsTheContainersSpecsName(t *testing.T) {
	rt := fakeruntime.New()
	rt.AddImage("busybox", "sha256:b")
	if _, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{Name: "external", Image: "busybox"}); err != nil {
		t.Fatal(err)
	}
	create := func(service string, spec runtime.ContainerSpec) *planner.Step {
		spec.Name = "p-" + service + "-1"
		return &planner.Step{Action: planner.CreateContainer, Service: service, Spec: &spec}
	}
	db := create("db", runtime.ContainerSpec{})
	for _, tc := range []struct {
		what string
		plan []*planner.Step
		want string // "" for no error
	}{
		{"a container the plan creates", []*planner.Step{db, create("web", runtime.ContainerSpec{VolumesFrom: []runtime.VolumesFrom{{Container: "p-db-1", Mode: "ro"}}})}, ""},
		{"a container that exists", []*planner.Step{create("web", runtime.ContainerSpec{NetworkMode: runtime.JoinContainer("external"), IPC: runtime.JoinContainer("external")})}, ""},
		{"a missing volumes_from source", []*planner.Step{db, create("web", runtime.ContainerSpec{VolumesFrom: []runtime.VolumesFrom{{Container: "nope", Mode: "rw"}}})},
			`service "web": volumes_from container:nope: no such container (services.web.volumes_from)`},
		{"a missing network_mode container", []*planner.Step{create("web", runtime.ContainerSpec{NetworkMode: runtime.JoinContainer("gone")})},
			`service "web": network_mode container:gone: no such container (services.web.network_mode)`},
		{"ipc of a shareable container the plan creates", []*planner.Step{create("db", runtime.ContainerSpec{IPC: runtime.Namespace{Mode: runtime.NamespaceShareable}}), create("web", runtime.ContainerSpec{IPC: runtime.JoinContainer("p-db-1")})}, ""},
		{"ipc of a private container the plan creates", []*planner.Step{db, create("web", runtime.ContainerSpec{IPC: runtime.JoinContainer("p-db-1")})},
			`service "web": ipc: p-db-1 has a private IPC namespace, which no other container can join (services.web.ipc): set services.db.ipc: shareable`},
		{"pid of a container the plan creates, whatever its ipc", []*planner.Step{db, create("web", runtime.ContainerSpec{PID: runtime.JoinContainer("p-db-1")})}, ""},
		{"run's one-off on a missing pid container", []*planner.Step{create("web", runtime.ContainerSpec{PID: runtime.JoinContainer("gone")})},
			`service "web": pid container:gone: no such container (services.web.pid)`},
	} {
		err := CheckReferences(context.Background(), &planner.Plan{Steps: tc.plan}, rt)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.what, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.what, err, tc.want)
		}
	}
}
