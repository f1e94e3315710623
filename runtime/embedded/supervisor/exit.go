package supervisor

import (
	"path/filepath"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/logfile"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// watch waits for the container's exit, cleans up after it, records it, and restarts it when
// its policy says so.
func (s *Supervisor) watch(e *entry, c *container.Container, exited chan struct{}, copied <-chan struct{}, out *logfile.Writer, afterWait func()) {
	code, err := c.Wait()
	if err != nil {
		s.logger.Printf("wait %s: %v", e.rec.Name, err)
	}
	if afterWait != nil {
		afterWait()
	}
	if derr := c.Destroy(); derr != nil {
		s.logger.Printf("destroy %s: %v", e.rec.Name, derr)
	}
	s.drain(e.rec, copied, out)
	if uerr := container.UnmountRootfs(filepath.Join(s.layout.Container(e.rec.ID), "fs")); uerr != nil {
		s.logger.Printf("unmount %s: %v", e.rec.Name, uerr)
	}
	s.mu.Lock()
	net := e.net
	e.net = nil
	s.mu.Unlock()
	if net != nil {
		s.disconnect(e.rec, net)
	}
	now := time.Now().UTC()
	s.mu.Lock()
	rec := e.rec
	rec.State, rec.Pid, rec.ExitCode, rec.FinishedAt = state.Exited, 0, code, now
	e.c, e.exited = nil, nil
	again, delay := e.tracker.Exited(code, rec.StartedAt, now, rec.StoppedByUser)
	var cancel chan struct{}
	if again {
		rec.State = state.Restarting
		rec.RestartCount = e.tracker.RestartCount()
		cancel = make(chan struct{})
		e.cancelRestart = cancel
	}
	s.mu.Unlock()
	s.save(e)
	close(exited)
	s.emit(rec, "die", code)
	if again {
		go s.restartAfter(e, delay, cancel)
	}
}

func (s *Supervisor) restartAfter(e *entry, delay time.Duration, cancel chan struct{}) {
	select {
	case <-time.After(delay):
	case <-cancel:
		return
	}
	e.op.Lock()
	defer e.op.Unlock()
	s.mu.Lock()
	if e.cancelRestart != cancel {
		s.mu.Unlock()
		return // called off meanwhile
	}
	e.cancelRestart = nil
	s.mu.Unlock()
	if err := s.run(e); err != nil {
		s.logger.Printf("restart %s: %v", e.rec.Name, err)
		e.rec.State = state.Exited
		s.save(e)
	}
}

// cancelRestart calls off a scheduled restart. The caller holds e.op.
func (s *Supervisor) cancelRestart(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.cancelRestart != nil {
		close(e.cancelRestart)
		e.cancelRestart = nil
		if e.rec.State == state.Restarting {
			e.rec.State = state.Exited
		}
	}
}
