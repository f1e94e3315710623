package docker

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

// The hooks label carries a container's hooks whole, and only when it has some; the spec's
// own labels are left as they were.
func TestHooksLabelCarriesTheHooks(t *testing.T) {
	labels := map[string]string{runtime.LabelProject: "p"}
	spec := runtime.ContainerSpec{Labels: labels,
		PostStart: []runtime.Hook{{Command: []string{"sh", "-c", "echo hi"}, User: "root", Privileged: true, WorkingDir: "/w", Env: []string{"A=1"}}},
		PreStop:   []runtime.Hook{{Command: []string{"flush"}}}}
	got, err := withHooksLabel(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := labels[labelHooks]; ok {
		t.Error("withHooksLabel changed the spec's labels")
	}
	var stored storedHooks
	if err := json.Unmarshal([]byte(got[labelHooks]), &stored); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored.PostStart, spec.PostStart) || !reflect.DeepEqual(stored.PreStop, spec.PreStop) || got[runtime.LabelProject] != "p" {
		t.Errorf("label %q, labels %v: want the hooks and the spec's labels", got[labelHooks], got)
	}
	if got, _ := withHooksLabel(runtime.ContainerSpec{Labels: labels}); len(got) != 1 {
		t.Errorf("labels without hooks = %v, want the spec's alone", got)
	}
}
