package supervisor

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// A post_start hook runs in the container once it started, with its own environment and
// working directory over the container's; the main process sees what it did.
func TestPostStartRunsInTheStartedContainer(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sh", "-c", `while [ ! -f /tmp/ready ]; do sleep 0.05; done; cat /tmp/ready; sleep 60`)
	spec.Env = []string{"WHO=container", "KEEP=kept"}
	spec.PostStart = []runtime.Hook{{Command: []string{"sh", "-c", `echo "$WHO $KEEP $(pwd) $(id -u)" > ready`},
		Env: []string{"WHO=hook"}, WorkingDir: "/tmp", User: "1000", Privileged: true}}
	id, _ := startTestContainer(t, s, spec)
	waitFor(t, "the container to print what its hook wrote", func() bool {
		log, _ := os.ReadFile(s.layout.LogPath(id))
		return bytes.Contains(log, []byte("hook kept /tmp 1000"))
	})
}

// A post_start hook that fails fails the start with its output, and the container is stopped
// again (not restarted by its policy), so that the next up starts it and runs the hook again.
func TestFailingPostStartFailsTheStart(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sleep", "60")
	spec.Restart = runtime.RestartPolicy{Name: "always"}
	spec.PostStart = []runtime.Hook{{Command: []string{"sh", "-c", "echo no database; exit 3"}}}
	id, err := s.create(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = s.start(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "start container web: post_start hook 1 (sh -c echo no database; exit 3) exited with status 3: no database") {
		t.Fatalf("start: %v, want the hook's failure with its output", err)
	}
	e, _ := s.entry(id)
	waitFor(t, "the container to be stopped", func() bool { return s.record(e).State == state.Exited })
	if rec := s.record(e); !rec.StoppedByUser {
		t.Errorf("record %+v: want stopped by comp, not to be restarted", rec)
	}
}

// pre_stop runs before the stop signal, in the running container; a failing one fails the
// stop and leaves the container running.
func TestPreStopRunsBeforeTheStop(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sleep", "60")
	spec.PreStop = []runtime.Hook{{Command: []string{"sh", "-c", "echo flushed > /proc/1/fd/1"}}}
	id, e := startTestContainer(t, s, spec)
	if err := s.stop(context.Background(), id, nil, ""); err != nil {
		t.Fatal(err)
	}
	if log, _ := os.ReadFile(s.layout.LogPath(id)); !bytes.Contains(log, []byte("flushed")) {
		t.Errorf("log %q: want the pre_stop hook's line", log)
	}

	s.update(e, func(r *state.Record) { r.Spec.PreStop = []runtime.Hook{{Command: []string{"false"}}} })
	if err := s.start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	err := s.stop(context.Background(), id, nil, "")
	if err == nil || !strings.Contains(err.Error(), "stop container web: pre_stop hook 1 (false) exited with status 1") {
		t.Errorf("stop: %v, want the hook's failure", err)
	}
	if rec := s.record(e); rec.State != state.Running {
		t.Errorf("container %s after a failed pre_stop, want still running", rec.State)
	}
}

// A privileged hook has every capability, whatever the container's: a hook that needs more
// than the service (a chown as root of a volume for a service that runs as a user, say).
func TestPrivilegedHookHasEveryCapability(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sleep", "60")
	spec.CapDrop = []string{"ALL"}
	caps := `grep CapEff /proc/self/status | tr -d '\t' > `
	spec.PostStart = []runtime.Hook{
		{Command: []string{"sh", "-c", caps + "/tmp/plain"}},
		{Command: []string{"sh", "-c", caps + "/tmp/privileged"}, Privileged: true},
	}
	id, _ := startTestContainer(t, s, spec)
	read := func(name string) string {
		var out bytes.Buffer
		code, err := s.mgr.Exec(context.Background(), id, container.Process{Args: []string{"cat", "/tmp/" + name}, Stdout: &out})
		if err != nil || code != 0 {
			t.Fatalf("cat %s in %s: %d, %v", name, id, code, err)
		}
		return strings.TrimSpace(out.String())
	}
	if plain, priv := read("plain"), read("privileged"); plain != "CapEff:0000000000000000" || priv == plain {
		t.Errorf("capabilities of a plain hook %q and a privileged one %q: want none, then more", plain, priv)
	}
}
