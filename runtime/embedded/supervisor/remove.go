package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
)

// remove deletes container id with its folder; a running one only with force.
func (s *Supervisor) remove(id string, force, volumes bool) error {
	e, err := s.lockEntry(id)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	s.mu.Lock()
	c, exited := e.c, e.exited
	s.mu.Unlock()
	if c != nil {
		if !force {
			return runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("remove container %s: it is running: stop it first or force the removal", e.rec.Name))
		}
		e.rec.StoppedByUser = true
		if err := c.Stop(syscall.SIGKILL, 0); err != nil {
			return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
		}
		<-exited
	}
	dir := s.layout.Container(e.rec.ID)
	container.UnmountRootfs(filepath.Join(dir, "fs"))
	// Rename first: a crash half-way leaves a folder no command mistakes for a container.
	trash := filepath.Join(s.layout.Containers(), ".trash-"+e.rec.ID)
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
	}
	if volumes {
		for _, v := range e.rec.Anonymous {
			if err := s.volumes().Remove(v, true, nil); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				s.logger.Printf("remove volume %s of %s: %v", v, e.rec.Name, err)
			}
		}
	}
	s.mu.Lock()
	delete(s.entries, e.rec.ID)
	s.mu.Unlock()
	s.emit(e.rec, "destroy", 0)
	return nil
}
