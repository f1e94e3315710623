package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/logfile"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// copyOutput opens the read ends of the container's FIFOs and copies them into its log; the
// returned channel closes when both reach end of file (every writer gone).
func (s *Supervisor) copyOutput(rec *state.Record, out *logfile.Writer) <-chan struct{} {
	dir := s.layout.Container(rec.ID)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, stream := range []string{runtime.Stdout, runtime.Stderr} {
		// O_RDWR while opening keeps open() from blocking without a writer; the read-only
		// descriptor then sees end of file once the container's descriptors are closed.
		f, err := os.OpenFile(filepath.Join(dir, stream), os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			s.logger.Printf("open %s of %s: %v", stream, rec.Name, err)
			continue
		}
		// Blocking reads from here on: the Go runtime poller handles the FIFO.
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			if err := out.Copy(stream, f); err != nil {
				s.logger.Printf("copy %s of %s: %v", stream, rec.Name, err)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (s *Supervisor) openLog(rec *state.Record) (*logfile.Writer, error) {
	maxSize, maxFiles, err := logfile.ParseOptions(rec.Spec.Log.Options)
	if err != nil {
		return nil, fmt.Errorf("container %s: logging options: %w", rec.Name, err)
	}
	return logfile.Open(s.layout.LogPath(rec.ID), maxSize, maxFiles)
}

// drain waits (briefly) for the output copies to end and closes the log.
func (s *Supervisor) drain(rec *state.Record, copied <-chan struct{}, out *logfile.Writer) {
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		s.logger.Printf("output of %s did not end", rec.Name)
	}
	out.Close()
}
