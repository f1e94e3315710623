package embedded

import (
	"context"
	"os"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Reads never start a process: a project whose records say "running" while no supervisor
// answers is listed and inspected as recorded, and its supervisor is left to Recover.
func TestReadsStartNoSupervisor(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the embedded runtime needs root, which CI has")
		}
		t.Skip("the embedded runtime needs root")
	}
	root := t.TempDir()
	t.Setenv("COMP_ROOT", root)
	rt, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	layout := state.LayoutAt(root)
	rec := &state.Record{ID: "0123456789abcdef0123", Name: "p-web-1", State: state.Running, Pid: 1 << 22,
		Spec: runtime.ContainerSpec{Name: "p-web-1", Labels: map[string]string{runtime.LabelProject: "p", runtime.LabelService: "web"}}}
	if err := os.MkdirAll(layout.Container(rec.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := layout.WriteRecord(rec); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{Project: "p"})
	if err != nil || len(cs) != 1 || cs[0].State != runtime.StateRunning {
		t.Fatalf("list = %+v, %v", cs, err)
	}
	if c, err := rt.InspectContainer(ctx, "p-web-1"); err != nil || c.ID != rec.ID {
		t.Fatalf("inspect = %+v, %v", c, err)
	}
	if _, err := os.Stat(layout.SupervisorLock("p") + ".log"); !os.IsNotExist(err) {
		t.Errorf("a read started the project's supervisor (its log exists: %v)", err)
	}
	if _, err := os.Stat(layout.Socket("p")); !os.IsNotExist(err) {
		t.Errorf("a read started the project's supervisor (its socket exists: %v)", err)
	}
}
