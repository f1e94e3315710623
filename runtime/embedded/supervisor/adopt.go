package supervisor

import (
	"path/filepath"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// adopt takes over the project's containers after the supervisor (re)started: those still
// running are watched again and their output read on from their FIFOs; those that were
// running but are gone (the supervisor died with them, or the machine rebooted) are recorded as
// exited and restarted when their policy says so, as Docker does at boot.
func (s *Supervisor) adopt() {
	records, err := s.layout.Records()
	if err != nil {
		s.logger.Printf("read records: %v", err)
		return
	}
	for _, rec := range records {
		if rec.Project() != s.project {
			continue
		}
		if rec.State != state.Running && rec.State != state.Restarting {
			continue
		}
		e, err := s.entry(rec.ID)
		if err != nil {
			continue
		}
		e.op.Lock()
		c, err := s.mgr.Load(rec.ID)
		if err == nil && c.Running() {
			out, lerr := s.openLog(rec)
			if lerr == nil {
				copied := s.copyOutput(rec, out)
				exited := make(chan struct{})
				s.mu.Lock()
				e.c, e.exited = c, exited
				s.mu.Unlock()
				go s.watch(e, c, exited, copied, out)
				e.op.Unlock()
				continue
			}
			s.logger.Printf("adopt %s: %v", rec.Name, lerr)
		}
		if c != nil {
			c.Destroy()
		}
		container.UnmountRootfs(filepath.Join(s.layout.Container(rec.ID), "fs"))
		// Its exit code died with its parent: Docker reports such a container as 255.
		rec.State, rec.Pid, rec.ExitCode, rec.FinishedAt = state.Exited, 0, 255, time.Now().UTC()
		s.save(e)
		if again, _ := e.tracker.Exited(255, rec.StartedAt, time.Now(), rec.StoppedByUser); again {
			if err := s.run(e); err != nil {
				s.logger.Printf("restart %s after adoption: %v", rec.Name, err)
			}
		}
		e.op.Unlock()
	}
}
