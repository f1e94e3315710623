package container

import (
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/comp-dev/comp/runtime"
)

func TestExecProcessSetsTheExecsOwnOverTheContainers(t *testing.T) {
	spec := runtime.ContainerSpec{Command: []string{"sleep", "1"}, Env: []string{"A=container", "B=kept"}, WorkingDir: "/app", User: "1000"}
	p, err := ExecProcess(spec, v1.Config{}, runtime.ExecSpec{Cmd: []string{"x"}, Env: []string{"A=exec", "C=new"}, Privileged: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A=exec", "B=kept", "C=new"} {
		if !slices.Contains(p.Env, want) {
			t.Errorf("env %q lacks %s", p.Env, want)
		}
	}
	if slices.Contains(p.Env, "A=container") || p.Cwd != "/app" || p.User != "1000" || !p.Privileged {
		t.Errorf("process %+v: want the container's working dir and user, A overridden, privileged", p)
	}
	p, _ = ExecProcess(spec, v1.Config{}, runtime.ExecSpec{Cmd: []string{"x"}, WorkingDir: "/tmp", User: "root"})
	if p.Cwd != "/tmp" || p.User != "root" {
		t.Errorf("process %+v: want the exec's working dir and user", p)
	}
}
