package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// The lifecycle hooks run here, in the supervisor, because every start and stop that comp
// asks of a container goes through its start and stop: the hooks hold whichever command
// asks (`up`, `start`, `restart`, `run`, `stop`, `down`, a recreate, attached up's Ctrl-C).
// The restart policy's restarts and the re-adoption of running containers call run, not
// start, and run no hooks, as Docker Engine's own restarts run none of Compose's.

// runHooks runs hooks in rec's running container, with the container's environment, user
// and working directory unless a hook sets its own.
func (s *Supervisor) runHooks(ctx context.Context, rec *state.Record, phase string, hooks []runtime.Hook) error {
	img, err := s.images.Get(rec.ImageID)
	if err != nil {
		return fmt.Errorf("image %s: %w", rec.Spec.Image, err)
	}
	return runtime.RunHooks(ctx, phase, hooks, func(ctx context.Context, x runtime.ExecSpec) (int, error) {
		p, err := container.ExecProcess(rec.Spec, img.Config, x)
		if err != nil {
			return -1, err
		}
		return s.mgr.Exec(ctx, rec.ID, p)
	})
}

// postStart runs the post_start hooks of e, just started; the caller holds e.op. One that
// fails kills the container again (it never fully started, so no pre_stop), so that the next
// `up` starts it and runs them again rather than keep a container whose start failed.
func (s *Supervisor) postStart(ctx context.Context, e *entry) error {
	rec := s.record(e)
	if len(rec.Spec.PostStart) == 0 {
		return nil
	}
	err := s.runHooks(ctx, rec, runtime.HookPostStart, rec.Spec.PostStart)
	if err == nil {
		return nil
	}
	now := new(time.Duration)
	if serr := s.halt(e, now, "SIGKILL"); serr != nil {
		err = fmt.Errorf("%w (and stopping it again: %v)", err, serr)
	}
	return fmt.Errorf("start container %s: %w", rec.Name, err)
}

// preStop runs the pre_stop hooks of e, about to be stopped; the caller holds e.op. One that
// fails fails the stop, the container still running, as in Docker Compose; a container that
// stopped meanwhile has nothing to run them in.
func (s *Supervisor) preStop(ctx context.Context, e *entry) error {
	s.mu.Lock()
	running, rec := e.c != nil, e.rec
	s.mu.Unlock()
	if !running || len(rec.Spec.PreStop) == 0 {
		return nil
	}
	err := s.runHooks(ctx, rec, runtime.HookPreStop, rec.Spec.PreStop)
	if err == nil || errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("stop container %s: %w", rec.Name, err)
}
