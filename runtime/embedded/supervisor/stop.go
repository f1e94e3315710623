package supervisor

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// defaultStopTimeout is Docker's grace period before SIGKILL.
const defaultStopTimeout = 10 * time.Second

// stop stops container id: its pre_stop hooks, its stop signal, the grace period, then
// SIGKILL. A stopped container is never brought back by its restart policy.
func (s *Supervisor) stop(ctx context.Context, id string, timeout *time.Duration, signal string) error {
	e, err := s.lockEntry(id)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	if err := s.preStop(ctx, e); err != nil {
		return err
	}
	return s.halt(e, timeout, signal)
}

// halt stops e's container as stop does, without its hooks; the caller holds e.op.
func (s *Supervisor) halt(e *entry, timeout *time.Duration, signal string) error {
	var c *container.Container
	var exited chan struct{}
	rec := s.update(e, func(r *state.Record) {
		c, exited = e.c, e.exited
		r.StoppedByUser = true
	})
	if c == nil {
		s.save(e)
		return nil
	}
	sigName := signal
	if sigName == "" {
		sigName = rec.Spec.StopSignal
	}
	if sigName == "" {
		// The image's STOPSIGNAL applies when the service sets none.
		if img, err := s.images.Get(rec.ImageID); err == nil {
			sigName = img.Config.StopSignal
		}
	}
	sig, err := ParseSignal(sigName, syscall.SIGTERM)
	if err != nil {
		return err
	}
	grace := defaultStopTimeout
	if rec.Spec.StopTimeout != nil {
		grace = *rec.Spec.StopTimeout
	}
	if timeout != nil {
		grace = *timeout
	}
	s.emit(rec, "kill", 0)
	if err := c.Stop(sig, grace); err != nil {
		return fmt.Errorf("stop container %s: %w", rec.Name, err)
	}
	<-exited
	s.emit(s.record(e), "stop", 0)
	return nil
}

// kill sends a signal (default SIGKILL) to the container's PID 1.
//
// It does not take e.op, unlike start, stop and remove: a stop holds it for the whole grace
// period, and a kill must get through then (comp up's second Ctrl-C kills what the first is
// stopping; TestKillGetsThroughAWaitingStop). It needs no lock beyond s.mu: it signals the run
// it finds in e.c, or says the container is not running. A start or restart still starting has
// no e.c yet (run sets it once the process runs); a remove's run is already being killed, and
// a signal to a container that has exited since fails as not running.
func (s *Supervisor) kill(id, signal string) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal, syscall.SIGKILL)
	if err != nil {
		return err
	}
	var c *container.Container
	rec := s.update(e, func(r *state.Record) {
		c = e.c
		if c != nil && (sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT) {
			r.StoppedByUser = true
		}
	})
	if c == nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("kill container %s: it is not running", rec.Name))
	}
	s.emit(rec, "kill", 0)
	return c.Signal(sig)
}

// ParseSignal reads "SIGTERM", "TERM" or "15"; "" is def.
func ParseSignal(name string, def syscall.Signal) (syscall.Signal, error) {
	if name == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(name, "%d", &n); err == nil && fmt.Sprint(n) == name {
		return syscall.Signal(n), nil
	}
	up := strings.ToUpper(name)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	return 0, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid signal %q", name))
}
