package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// remove deletes container id with its folder; a running one only with force.
func (s *Supervisor) remove(id string, force, volumes bool) error {
	e, err := s.lockEntry(id)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	s.mu.Lock()
	c, exited, rec := e.c, e.exited, e.rec
	s.mu.Unlock()
	if c != nil {
		if !force {
			return runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("remove container %s: it is running: stop it first or force the removal", rec.Name))
		}
		s.update(e, func(r *state.Record) { r.StoppedByUser = true })
		if err := c.Stop(syscall.SIGKILL, 0); err != nil {
			return fmt.Errorf("remove container %s: %w", rec.Name, err)
		}
		<-exited
		rec = s.record(e)
	}
	dir := s.layout.Container(rec.ID)
	container.UnmountRootfs(filepath.Join(dir, "fs"))
	// Rename first: a crash half-way leaves a folder no command mistakes for a container.
	trash := filepath.Join(s.layout.Containers(), ".trash-"+rec.ID)
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove container %s: %w", rec.Name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove container %s: %w", rec.Name, err)
	}
	if volumes {
		for _, v := range rec.Anonymous {
			if err := s.volumes().Remove(v, true, nil); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				s.logger.Printf("remove volume %s of %s: %v", v, rec.Name, err)
			}
		}
	}
	s.mu.Lock()
	delete(s.entries, rec.ID)
	s.mu.Unlock()
	s.emit(rec, "destroy", 0)
	return nil
}
