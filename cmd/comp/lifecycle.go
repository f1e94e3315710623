package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
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
	obs, err := observe(ctx, rt, name, nil)
	if err != nil {
		return err
	}
	plan, err := planner.Start(p, obs, services)
	if err != nil {
		return err
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	return g.apply(ctx, rt, plan, "Running")
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

// stopServices stops the running containers of services (all when none are named), dependents
// before their dependencies.
func stopServices(ctx context.Context, g *globalOptions, rt runtime.Runtime, name string, services []string, timeout *time.Duration) error {
	obs, err := observe(ctx, rt, name, nil)
	if err != nil {
		return err
	}
	plan := planner.Stop(obs, services, timeout)
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	return g.apply(ctx, rt, plan, "Stopping")
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
// dependencies first. Naming a service also restarts the services that depend on it with
// `restart: true`, unless --no-deps.
func runRestart(ctx context.Context, g *globalOptions, o *restartOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	obs, err := observe(ctx, rt, name, nil)
	if err != nil {
		return err
	}
	plan, err := planner.Restart(obs, services, o.noDeps, timeoutFlag(o.timeout))
	if err != nil {
		return err
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	return g.apply(ctx, rt, plan, "Running")
}
