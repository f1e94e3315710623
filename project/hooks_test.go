package project

import (
	"reflect"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestContainerSpecCarriesLifecycleHooks(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    post_start:
      - command: ["sh", "-c", "echo started > /tmp/started"]
        user: root
        privileged: true
        working_dir: /tmp
        environment: {B: "2", A: "1"}
      - command: echo second
    pre_stop:
      - command: ["sh", "-c", "echo bye"]
`)
	spec := firstSpec(t, path, "web")
	wantPost := []runtime.Hook{
		{Command: []string{"sh", "-c", "echo started > /tmp/started"}, User: "root", Privileged: true,
			WorkingDir: "/tmp", Env: []string{"A=1", "B=2"}},
		{Command: []string{"echo", "second"}},
	}
	if !reflect.DeepEqual(spec.PostStart, wantPost) {
		t.Errorf("post_start = %+v, want %+v", spec.PostStart, wantPost)
	}
	wantPre := []runtime.Hook{{Command: []string{"sh", "-c", "echo bye"}}}
	if !reflect.DeepEqual(spec.PreStop, wantPre) {
		t.Errorf("pre_stop = %+v, want %+v", spec.PreStop, wantPre)
	}
}
