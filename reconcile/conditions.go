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

// pollInterval is how often a condition is re-checked. It starts short so that a no-op `up`
// of a chain of healthy services costs nothing, and backs off to pollMax.
const (
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
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w", c.Name, w.Condition, ctx.Err())
		case <-time.After(interval):
		}
		if interval *= 2; interval > pollMax {
			interval = pollMax
		}
	}
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
