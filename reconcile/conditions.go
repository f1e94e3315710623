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

// waitFor blocks until every depends_on condition of st holds. A failed required condition is
// an error naming the container and the reason, as Compose words it; a failed optional one is a
// warning.
func (a *applier) waitFor(ctx context.Context, st *planner.Step) error {
	for _, w := range st.Waits {
		if w.Condition == "" || w.Condition == types.ServiceConditionStarted {
			continue
		}
		ids := a.containersOf(w.Service)
		for _, id := range ids {
			err := a.waitCondition(ctx, st, w, id)
			if err == nil {
				continue
			}
			if !w.Required {
				a.opts.Progress.emit(st.Kind, st.Name, "Warning", Warning,
					fmt.Sprintf("optional dependency %q failed: %v", w.Service, err))
				continue
			}
			return err
		}
	}
	return nil
}

func (a *applier) waitCondition(ctx context.Context, st *planner.Step, w planner.Wait, id string) error {
	if a.opts.ConditionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.ConditionTimeout)
		defer cancel()
	}
	announced := false
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
				return fmt.Errorf("dependency failed to start: container of service %q was removed", w.Service)
			}
			return err
		}
		ok, err := conditionMet(w, c)
		if err != nil {
			return err
		}
		if ok {
			if announced {
				status := "Healthy"
				if w.Condition == types.ServiceConditionCompletedSuccessfully {
					status = "Exited"
				}
				a.opts.Progress.emit(planner.KindContainer, c.Name, status, Done, "")
			}
			return nil
		}
		if !announced {
			a.opts.Progress.emit(planner.KindContainer, c.Name, "Waiting", Working, "")
			announced = true
		}
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

// conditionMet reports whether c meets w's condition, or why it never will.
func conditionMet(w planner.Wait, c runtime.Container) (bool, error) {
	switch w.Condition {
	case types.ServiceConditionHealthy:
		switch {
		case c.State == runtime.StateExited || c.State == runtime.StateDead:
			return false, fmt.Errorf("dependency failed to start: container %s exited (%d)", c.Name, c.ExitCode)
		case c.Health == runtime.HealthHealthy:
			return true, nil
		case c.Health == runtime.HealthUnhealthy:
			return false, fmt.Errorf("dependency failed to start: container %s is unhealthy", c.Name)
		case c.Health == runtime.HealthNone && c.State == runtime.StateRunning:
			return false, fmt.Errorf("dependency failed to start: container %s has no healthcheck configured", c.Name)
		}
		return false, nil
	case types.ServiceConditionCompletedSuccessfully:
		switch c.State {
		case runtime.StateExited, runtime.StateDead:
			if c.ExitCode != 0 {
				return false, fmt.Errorf("service %q didn't complete successfully: exit %d", w.Service, c.ExitCode)
			}
			return true, nil
		}
		return false, nil
	}
	return true, nil
}
