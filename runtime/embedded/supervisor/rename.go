package supervisor

import (
	"fmt"
	"path/filepath"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// rename gives container id a new, unused name.
func (s *Supervisor) rename(id, name string) error {
	if err := state.CheckName("container", name); err != nil {
		return err
	}
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	old := s.record(e)
	release, err := state.Lock(filepath.Join(s.layout.Run, "names.lock"), true)
	if err != nil {
		return err
	}
	defer release()
	if other, taken, err := s.names.Owner(name); err != nil {
		return fmt.Errorf("rename %s to %s: %w", old.Name, name, err)
	} else if taken && other != old.ID {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("rename %s to %s: the name is already in use", old.Name, name))
	}
	rec := s.update(e, func(r *state.Record) { r.Name = name })
	s.save(e)
	s.emit(rec, "rename", 0)
	return nil
}
