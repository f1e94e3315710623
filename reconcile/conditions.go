package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// pollStart and pollMax say how often a condition is re-checked between the runtime's events:
// first soon, then backing off to pollMax. (Variables so that a test can slow them.)
var (
	pollStart = 20 * time.Millisecond
	pollMax   = 250 * time.Millisecond
)

// waitConditions blocks until every condition of st holds: the depends_on conditions of a
// container about to start, or a container's own goal (`up --wait`). This is the one wait
// on conditions in comp. A failed required condition is an error naming the container and
// the reason, as Compose words it; a failed optional one is a warning.
func (a *applier) waitConditions(ctx context.Context, st *planner.Step) error {
	if !a.opts.Deadline.IsZero() && len(st.Waits) > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, a.opts.Deadline)
		defer cancel()
	}
	for _, w := range st.Waits {
		if !w.Goal && (w.Condition == "" || w.Condition == types.ServiceConditionStarted) {
			continue
		}
		for _, name := range w.Containers {
			err := a.waitCondition(ctx, w, a.resolve(name))
			if err == nil {
				continue
			}
			if !w.Required {
				a.emit(st, "Warning", Warning, fmt.Sprintf("optional dependency %q failed: %v", w.Service, err))
				continue
			}
			return err
		}
	}
	return nil
}

// waitCondition waits until container id meets w's condition.
func (a *applier) waitCondition(ctx context.Context, w planner.Wait, id string) error {
	announced := false
	announce := func(name string) {
		if !announced {
			a.opts.Progress.emit(planner.KindContainer, name, "Waiting", Working, "")
			announced = true
		}
	}
	interval := pollStart
	// changed wakes the wait when the runtime reports an event of the container (a health
	// status, a death), so that a chain of service_healthy moves on as soon as each service is
	// healthy rather than at the next poll; polling stays, backing off to pollMax, for what
	// the event stream misses. The stream is opened only when the condition does not hold at
	// once, so that a no-op up opens none.
	var changed <-chan struct{}
	for {
		c, err := a.rt.InspectContainer(ctx, id)
		if err != nil {
			if errors.Is(err, runtime.ErrNotFound) {
				if w.Goal {
					return fmt.Errorf("container %s was removed", id)
				}
				return fmt.Errorf("dependency failed to start: container of service %q was removed", w.Service)
			}
			return err
		}
		if w.Goal {
			announce(c.Name) // --wait says what it waits for, met or not
		}
		status, ok, err := conditionMet(w, c)
		if err != nil {
			return err // the step reports it
		}
		if ok {
			if announced {
				a.opts.Progress.emit(planner.KindContainer, c.Name, status, Done, "")
			}
			return nil
		}
		announce(c.Name)
		if changed == nil {
			evCtx, stop := context.WithCancel(ctx)
			defer stop()
			changed = a.containerChanges(evCtx, c)
			continue // inspect again: an event may have come before the stream opened
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w", c.Name, w.Condition, ctx.Err())
		case <-changed:
		case <-time.After(interval):
			if interval *= 2; interval > pollMax {
				interval = pollMax
			}
		}
	}
}

// containerChanges signals (without blocking: one pending signal is enough) each event the
// runtime reports of container c until ctx ends. When the runtime cannot stream events, it
// never signals, and the caller's polling carries the wait alone.
func (a *applier) containerChanges(ctx context.Context, c runtime.Container) <-chan struct{} {
	changed := make(chan struct{}, 1)
	events, _ := a.rt.Events(ctx, c.Labels[runtime.LabelProject])
	if events == nil {
		return changed
	}
	go func() {
		for ev := range events {
			if ev.Container == c.ID || ev.Name == c.Name {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return changed
}

// conditionMet reports whether c meets w's condition (and the progress status that says so),
// or why it never will. A dependency's failure reads as Docker Compose words it
// ("dependency failed to start: …"); a container's own goal names the container.
func conditionMet(w planner.Wait, c runtime.Container) (status string, met bool, err error) {
	exited := c.State == runtime.StateExited || c.State == runtime.StateDead
	fail := func(format string, args ...any) (string, bool, error) {
		err := fmt.Errorf(format, args...)
		if !w.Goal {
			err = fmt.Errorf("dependency failed to start: %w", err)
		}
		return "", false, err
	}
	switch w.Condition {
	case types.ServiceConditionHealthy, planner.ConditionUp:
		switch {
		case exited:
			return fail("container %s exited (%d)", c.Name, c.ExitCode)
		case c.Health == runtime.HealthUnhealthy:
			return fail("container %s is unhealthy", c.Name)
		case c.Health == runtime.HealthHealthy:
			return "Healthy", true, nil
		case c.State != runtime.StateRunning:
			return "", false, nil // created, restarting, paused: not up yet
		case c.Health == runtime.HealthNone && w.Condition == planner.ConditionUp:
			return "Running", true, nil
		case c.Health == runtime.HealthNone:
			return fail("container %s has no healthcheck configured", c.Name)
		}
		return "", false, nil // health starting
	case types.ServiceConditionCompletedSuccessfully:
		switch {
		case exited && c.ExitCode == 0:
			return "Exited", true, nil
		case exited && w.Goal:
			return fail("container %s didn't complete successfully: exit %d", c.Name, c.ExitCode)
		case exited:
			return "", false, fmt.Errorf("service %q didn't complete successfully: exit %d", w.Service, c.ExitCode)
		}
		return "", false, nil
	}
	return "Running", true, nil
}
