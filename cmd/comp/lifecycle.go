package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

func newStartCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStart(cmd.Context(), g, args)
		},
	}
}

// runStart starts the project's existing containers of services and of the services they depend
// on, dependencies first, waiting on depends_on conditions as `up` does. It creates nothing.
func runStart(ctx context.Context, g *globalOptions, services []string) error {
	name, p, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := projectContainers(ctx, rt, name, true, oneoffExclude)
	if err != nil {
		return err
	}
	graph := labelGraph(cs)
	if p != nil {
		graph = planner.ServiceGraph(p)
	}
	selected := withDependencies(graph, services)
	cs = inServices(cs, selected)
	if p != nil {
		for _, svc := range sortedKeys(selected) {
			s, ok := p.Services[svc]
			if !ok || s.GetScale() == 0 {
				continue
			}
			if len(selectServices(cs, []string{svc})) == 0 {
				return fmt.Errorf("service %q has no container to start", svc)
			}
		}
	}
	if len(cs) == 0 {
		return errors.New("no containers to start")
	}
	plan, err := startPlan(cs)
	if err != nil {
		return err
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	progress := g.newProgress("Running")
	return reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: progress.Event})
}

// startPlan starts the stopped containers of cs after the containers of the services they
// depend on (read from their labels), waiting on each depends_on condition; running containers
// are kept, so that a dependent's conditions can see them.
func startPlan(cs []runtime.Container) (*planner.Plan, error) {
	graph := labelGraph(cs)
	if err := graph.CheckCycle(); err != nil {
		return nil, err
	}
	byService := map[string][]string{}
	for _, c := range cs {
		byService[serviceOf(c)] = append(byService[serviceOf(c)], planner.KindContainer+":"+c.Name)
	}
	plan := &planner.Plan{}
	for i := range cs {
		c := cs[i]
		st := &planner.Step{ID: planner.KindContainer + ":" + c.Name, Kind: planner.KindContainer, Name: c.Name,
			Service: serviceOf(c), Number: containerNumber(c), Container: &c}
		for _, d := range labelDependencies(c) {
			st.After = append(st.After, byService[d.Service]...)
			if _, ok := byService[d.Service]; ok {
				st.Waits = append(st.Waits, planner.Wait{Service: d.Service, Condition: d.Condition, Required: true})
			}
		}
		if isActive(c) {
			st.Action, st.Reason = planner.KeepContainer, "running"
		} else {
			st.Action, st.Reason, st.Start = planner.StartContainer, "container "+c.State, true
		}
		plan.Steps = append(plan.Steps, st)
	}
	return plan, nil
}

type stopOptions struct {
	timeout int
}

func newStopCmd(g *globalOptions) *cobra.Command {
	o := &stopOptions{}
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStop(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", -1, "Specify a shutdown timeout in seconds")
	return cmd
}

// runStop stops the running containers of services (all when none are named), dependents
// before their dependencies.
func runStop(ctx context.Context, g *globalOptions, o *stopOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	return stopServices(ctx, g, rt, name, services, timeoutFlag(o.timeout))
}

type restartOptions struct {
	timeout int
	noDeps  bool
}

func newRestartCmd(g *globalOptions) *cobra.Command {
	o := &restartOptions{}
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestart(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", -1, "Specify a shutdown timeout in seconds")
	cmd.Flags().BoolVar(&o.noDeps, "no-deps", false, "Don't restart dependent services")
	return cmd
}

// runRestart restarts the containers of services (all when none are named), stopped ones too,
// one dependency level at a time, dependencies first. Naming a service also restarts the
// services that depend on it with `restart: true`, unless --no-deps.
func runRestart(ctx context.Context, g *globalOptions, o *restartOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := projectContainers(ctx, rt, name, true, oneoffExclude)
	if err != nil {
		return err
	}
	graph := labelGraph(cs)
	levels, err := graph.Levels()
	if err != nil {
		return err
	}
	selected := map[string]bool{}
	if len(services) == 0 {
		selected = withDependencies(graph, nil)
	} else {
		for _, s := range services {
			selected[s] = true
		}
		if !o.noDeps {
			for s := range restartDependents(cs, services) {
				selected[s] = true
			}
		}
	}
	targets := inServices(cs, selected)
	if g.dryRun {
		for _, c := range targets {
			fmt.Fprintf(g.streams.Out, "%s %s  Restart\n", planner.KindContainer, c.Name)
		}
		return nil
	}
	progress := g.newProgress("Running")
	timeout := timeoutFlag(o.timeout)
	for _, level := range levels {
		var batch []runtime.Container
		for _, c := range targets {
			for _, svc := range level {
				if serviceOf(c) == svc {
					batch = append(batch, c)
				}
			}
		}
		if len(batch) == 0 {
			continue
		}
		if err := awaitDependencies(ctx, rt, batch, cs); err != nil {
			return err
		}
		err := forEachContainer(ctx, g.parallel, batch, func(ctx context.Context, c runtime.Container) error {
			progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Restarting", State: reconcile.Working})
			if err := rt.RestartContainer(ctx, c.ID, timeout); err != nil {
				err = fmt.Errorf("restart container %s: %w", c.Name, err)
				progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Error", State: reconcile.Error, Detail: err.Error()})
				return err
			}
			progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Started", State: reconcile.Done})
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// restartDependents are the services that depend, directly or not, on one of services with
// `restart: true`: restarting a service restarts them too.
func restartDependents(cs []runtime.Container, services []string) map[string]bool {
	out := map[string]bool{}
	queue := append([]string(nil), services...)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, c := range cs {
			for _, d := range labelDependencies(c) {
				if d.Service == s && d.Restart && !out[serviceOf(c)] {
					out[serviceOf(c)] = true
					queue = append(queue, serviceOf(c))
				}
			}
		}
	}
	return out
}

// awaitDependencies waits until the containers that batch depends on meet the batch's
// depends_on conditions (healthy, completed successfully), as `up` waits before a start.
func awaitDependencies(ctx context.Context, rt runtime.Runtime, batch, all []runtime.Container) error {
	seen := map[string]bool{}
	for _, c := range batch {
		for _, d := range labelDependencies(c) {
			if d.Condition != types.ServiceConditionHealthy && d.Condition != types.ServiceConditionCompletedSuccessfully {
				continue
			}
			for _, dep := range selectServices(all, []string{d.Service}) {
				key := dep.ID + "/" + d.Condition
				if seen[key] {
					continue
				}
				seen[key] = true
				if err := awaitCondition(ctx, rt, dep, d); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// awaitCondition polls container c until it meets d's condition, or fails as Compose words it.
func awaitCondition(ctx context.Context, rt runtime.Runtime, c runtime.Container, d dependency) error {
	interval := 20 * time.Millisecond
	for {
		c, err := rt.InspectContainer(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("dependency failed to start: %w", err)
		}
		switch d.Condition {
		case types.ServiceConditionHealthy:
			switch {
			case c.State == runtime.StateExited || c.State == runtime.StateDead:
				return fmt.Errorf("dependency failed to start: container %s exited (%d)", c.Name, c.ExitCode)
			case c.Health == runtime.HealthHealthy:
				return nil
			case c.Health == runtime.HealthUnhealthy:
				return fmt.Errorf("dependency failed to start: container %s is unhealthy", c.Name)
			case c.Health == runtime.HealthNone && c.State == runtime.StateRunning:
				return fmt.Errorf("dependency failed to start: container %s has no healthcheck configured", c.Name)
			}
		case types.ServiceConditionCompletedSuccessfully:
			if c.State == runtime.StateExited || c.State == runtime.StateDead {
				if c.ExitCode != 0 {
					return fmt.Errorf("service %q didn't complete successfully: exit %d", d.Service, c.ExitCode)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w", c.Name, d.Condition, ctx.Err())
		case <-time.After(interval):
		}
		interval = min(2*interval, 250*time.Millisecond)
	}
}
