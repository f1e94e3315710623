package supervisor

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// A kill gets through while a stop waits out the grace period of a container that ignores its
// stop signal: that is comp up's second Ctrl-C. The stop then returns, and the container is
// recorded killed and not restarted.
func TestKillGetsThroughAWaitingStop(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sh", "-c", `trap "echo got TERM" TERM; while :; do sleep 0.1; done`)
	id, e := startTestContainer(t, s, spec)
	waitFor(t, "the shell's TERM trap", func() bool {
		ok, _ := container.HandlesSignal(s.record(e).Pid, syscall.SIGTERM)
		return ok
	})

	grace := 30 * time.Second
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(context.Background(), id, &grace, "") }()
	waitFor(t, "the stop signal to reach the container", func() bool {
		log, _ := os.ReadFile(s.layout.LogPath(id))
		return bytes.Contains(log, []byte("got TERM"))
	})
	killed := make(chan error, 1)
	go func() { killed <- s.kill(id, "SIGKILL") }()
	for _, op := range []struct {
		what string
		done chan error
	}{{"kill", killed}, {"stop", stopped}} {
		select {
		case err := <-op.done:
			if err != nil {
				t.Errorf("%s: %v", op.what, err)
			}
		case <-time.After(grace / 2):
			t.Fatalf("%s still waits %s after the kill", op.what, grace/2)
		}
	}
	if rec := s.record(e); rec.State != state.Exited || rec.ExitCode != 137 {
		t.Errorf("container %s with exit code %d, want exited with 137", rec.State, rec.ExitCode)
	}
}
