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
	// As it runs, with its endpoints: for the clean-up, and its name in messages.
	ran := s.record(e)
	code, err := c.Wait()
	if err != nil {
		s.logger.Printf("wait %s: %v", ran.Name, err)
	}
	if afterWait != nil {
		afterWait()
	}
	if derr := c.Destroy(); derr != nil {
		s.logger.Printf("destroy %s: %v", ran.Name, derr)
	}
	s.drain(ran, copied, out)
	if uerr := container.UnmountRootfs(filepath.Join(s.layout.Container(ran.ID), "fs")); uerr != nil {
		s.logger.Printf("unmount %s: %v", ran.Name, uerr)
	}
	var net *netsetup
	// Off its networks before disconnect looks for their last user (stopDNSIfUnused), so that
	// two containers leaving one network at once do not each count the other on it.
	s.update(e, func(r *state.Record) {
		net, e.net = e.net, nil
		r.Endpoints, r.Ports = nil, nil
	})
	if net != nil {
		s.disconnect(ran, net)
	}
	now := time.Now().UTC()
	var again bool
	var delay time.Duration
	var cancel chan struct{}
	rec := s.update(e, func(r *state.Record) {
		r.State, r.Pid, r.ExitCode, r.FinishedAt = state.Exited, 0, code, now
		e.c, e.exited = nil, nil
		again, delay = e.tracker.Exited(code, r.StartedAt, now, r.StoppedByUser)
		if again {
			r.State = state.Restarting
			r.RestartCount = e.tracker.RestartCount()
			cancel = make(chan struct{})
			e.cancelRestart = cancel
		}
	})
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
		rec := s.update(e, func(r *state.Record) { r.State = state.Exited })
		s.logger.Printf("restart %s: %v", rec.Name, err)
		s.save(e)
	}
}

// cancelRestart calls off a scheduled restart. The caller holds e.op.
func (s *Supervisor) cancelRestart(e *entry) {
	s.update(e, func(r *state.Record) {
		if e.cancelRestart != nil {
			close(e.cancelRestart)
			e.cancelRestart = nil
			if r.State == state.Restarting {
				r.State = state.Exited
			}
		}
	})
}
