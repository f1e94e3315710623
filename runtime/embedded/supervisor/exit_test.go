package supervisor

import (
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/restart"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// A container that fails is restarted by its policy as many times as it allows, then recorded
// exited with its last exit code and its restart count.
func TestRestartPolicyRestartsAFailingContainer(t *testing.T) {
	s := newTestSupervisor(t)
	spec := testSpec("web", "sh", "-c", "exit 3")
	spec.Restart = runtime.RestartPolicy{Name: restart.OnFailure, MaxRetries: 2, Delay: 10 * time.Millisecond}
	id, e := startTestContainer(t, s, spec)
	// Between its runs it is restarting: exited only once the policy gave up.
	var rec *state.Record
	waitFor(t, "the policy to give up", func() bool {
		var err error
		rec, err = s.layout.ReadRecord(id)
		return err == nil && rec.State == state.Exited
	})
	if rec.RestartCount != 2 || rec.ExitCode != 3 {
		t.Errorf("recorded exited with %d after %d restarts, want 3 after 2", rec.ExitCode, rec.RestartCount)
	}
	if mem := s.record(e); mem.State != rec.State || mem.RestartCount != rec.RestartCount {
		t.Errorf("the supervisor believes %s after %d restarts", mem.State, mem.RestartCount)
	}
}

// A scheduled restart that fails records the container exited, following the entry's locking
// rule: with -race, a reader that follows it (any request, here a loop) sees no race.
func TestFailedRestartRecordsExited(t *testing.T) {
	s := newTestSupervisor(t)
	id, err := s.create(testSpec("web", "true"))
	if err != nil {
		t.Fatal(err)
	}
	// Without its image, the restart fails.
	if _, err := s.images.Remove(testImage, true, nil); err != nil {
		t.Fatal(err)
	}
	e, err := s.entry(id)
	if err != nil {
		t.Fatal(err)
	}
	cancel := make(chan struct{})
	s.update(e, func(r *state.Record) { r.State = state.Restarting })
	s.mu.Lock()
	e.cancelRestart = cancel
	s.mu.Unlock()
	restarted := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(restarted)
		s.restartAfter(e, 0, cancel)
	})
	wg.Go(func() {
		for {
			_ = s.record(e).State
			select {
			case <-restarted:
				return
			default:
			}
		}
	})
	wg.Wait()
	rec, err := s.layout.ReadRecord(id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != state.Exited {
		t.Errorf("recorded %s, want exited", rec.State)
	}
	if got := s.record(e).State; got != state.Exited {
		t.Errorf("the supervisor believes the container %s", got)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
