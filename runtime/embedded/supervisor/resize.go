package supervisor

import (
	"fmt"

	"github.com/comp-dev/comp/runtime"
)

// resize sets the size of the terminal of running container id.
func (s *Supervisor) resize(id string, width, height uint16) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c, rec := e.c, e.rec
	s.mu.Unlock()
	if c == nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("resize %s: the container is not running", rec.Name))
	}
	return c.ResizeTTY(width, height)
}
