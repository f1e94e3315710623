package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

// Polling of `up --wait`: short at first, so that a project already up costs nothing, then
// backing off.
const (
	waitPollStart = 20 * time.Millisecond
	waitPollMax   = 250 * time.Millisecond
)

// applyAndWait is `up --wait`: it applies the plan, then waits until the project's containers
// are up (see awaitProject). With a timeout, running out of it is Compose's `application not
// healthy after Ns`; the timeout also bounds each depends_on wait of the plan.
func applyAndWait(ctx context.Context, rt runtime.Runtime, p *project.Project, plan *planner.Plan,
	applyOpts reconcile.Options, timeout time.Duration, progress reconcile.Progress) error {

	started := time.Now()
	if timeout > 0 {
		applyOpts.ConditionTimeout = timeout
	}
	notHealthy := func(err error) error {
		if timeout > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("application not healthy after %s", timeout)
		}
		return err
	}
	if err := reconcile.Apply(ctx, plan, rt, applyOpts); err != nil {
		return notHealthy(err)
	}
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithDeadline(ctx, started.Add(timeout))
		defer cancel()
	}
	return notHealthy(awaitProject(waitCtx, rt, p, progress))
}

// waitGoal is what `up --wait` waits for in one container.
type waitGoal int

const (
	// goalUp: running, and healthy when it has a healthcheck.
	goalUp waitGoal = iota
	// goalCompleted: exited 0, for a service that a dependent waits on with
	// service_completed_successfully.
	goalCompleted
)

// awaitProject waits until every container of p's services meets its goal, and returns as soon
// as they all do. A container that exits (other than a completed one-shot with 0) or turns
// unhealthy fails the wait at once, naming the container. progress hears Waiting, then
// Healthy, Running (no healthcheck) or Exited (one-shot) per container.
func awaitProject(ctx context.Context, rt runtime.Runtime, p *project.Project, progress reconcile.Progress) error {
	cs, err := projectContainers(ctx, rt, p.Name, true, oneoffExclude)
	if err != nil {
		return err
	}
	cs = selectServices(cs, p.ServiceNames())
	completed := completedDependencies(p)
	emit := func(name, status string, state reconcile.State, detail string) {
		if progress != nil {
			progress(reconcile.Event{Kind: planner.KindContainer, Name: name, Status: status, State: state, Detail: detail})
		}
	}
	for _, c := range cs {
		emit(c.Name, "Waiting", reconcile.Working, "")
	}
	pending := cs
	for interval := waitPollStart; ; interval = min(2*interval, waitPollMax) {
		var still []runtime.Container
		for _, c := range pending {
			goal := goalUp
			if completed[serviceOf(c)] {
				goal = goalCompleted
			}
			now, err := rt.InspectContainer(ctx, c.ID)
			if errors.Is(err, runtime.ErrNotFound) {
				err = fmt.Errorf("container %s was removed", c.Name)
			}
			if err != nil {
				emit(c.Name, "Error", reconcile.Error, err.Error())
				return err
			}
			status, done, err := waitState(now, goal)
			switch {
			case err != nil:
				emit(c.Name, "Error", reconcile.Error, err.Error())
				return err
			case done:
				emit(c.Name, status, reconcile.Done, "")
			default:
				still = append(still, c)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", pending[0].Name, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// waitState tells whether container c meets goal (and the progress status that says so), or
// why it never will.
func waitState(c runtime.Container, goal waitGoal) (status string, done bool, err error) {
	exited := c.State == runtime.StateExited || c.State == runtime.StateDead
	if goal == goalCompleted {
		switch {
		case exited && c.ExitCode == 0:
			return "Exited", true, nil
		case exited:
			return "", false, fmt.Errorf("container %s didn't complete successfully: exit %d", c.Name, c.ExitCode)
		}
		return "", false, nil
	}
	switch {
	case exited:
		return "", false, fmt.Errorf("container %s exited (%d)", c.Name, c.ExitCode)
	case c.Health == runtime.HealthUnhealthy:
		return "", false, fmt.Errorf("container %s is unhealthy", c.Name)
	case c.State != runtime.StateRunning:
		return "", false, nil // created, restarting, paused: not up yet
	case c.Health == runtime.HealthHealthy:
		return "Healthy", true, nil
	case c.Health == runtime.HealthNone:
		return "Running", true, nil
	}
	return "", false, nil // health starting
}

// completedDependencies are the services of p that a dependent waits on with
// service_completed_successfully: one-shots, expected to have exited 0.
func completedDependencies(p *project.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[dep] = true
			}
		}
	}
	return out
}

type waitOptions struct {
	downProject bool
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...] [OPTIONS]",
		Short: "Block until containers of all (or specified) services stop.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.downProject, "down-project", false, "Drops project when the first container stops")
	return cmd
}

// runWait blocks until the containers of services have exited, printing each one's exit code as
// it exits; comp's exit status is the exit code of the first to exit. With --down-project, the
// first exit takes the project down instead of waiting for the others.
func runWait(ctx context.Context, g *globalOptions, o *waitOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	code, err := waitContainers(ctx, rt, g.streams.Out, name, services, o.downProject)
	if err != nil {
		return err
	}
	if o.downProject {
		if err := runDown(ctx, g, &downOptions{removeOrphans: true, timeout: -1}); err != nil {
			return err
		}
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}

// waitContainers waits for the containers of services in project name that have run: running
// ones until they exit, exited ones at once (as `docker wait` does). It prints
// `container "NAME" exited with status code N` for each as it exits and returns the exit code
// of the first; with first, it returns after the first.
func waitContainers(ctx context.Context, rt runtime.Runtime, w io.Writer, name string, services []string, first bool) (int, error) {
	cs, err := projectContainers(ctx, rt, name, true, oneoffInclude)
	if err != nil {
		return 0, err
	}
	cs = slices.DeleteFunc(selectServices(cs, services), func(c runtime.Container) bool {
		return c.State == runtime.StateCreated || c.State == runtime.StateRemoving
	})
	if len(cs) == 0 {
		return 0, fmt.Errorf("no containers for project %q", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c    runtime.Container
		code int
		err  error
	}
	results := make(chan result, len(cs))
	for _, c := range cs {
		go func() {
			code, err := rt.WaitContainer(ctx, c.ID)
			results <- result{c, code, err}
		}()
	}
	var firstCode int
	for i := range cs {
		r := <-results
		if r.err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("wait for container %s: %w", r.c.Name, r.err)
		}
		fmt.Fprintf(w, "container %q exited with status code %d\n", r.c.Name, r.code)
		if i == 0 {
			firstCode = r.code
			if first {
				break
			}
		}
	}
	return firstCode, nil
}
