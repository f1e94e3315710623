package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/reconcile"
)

type downOptions struct {
	volumes       bool
	removeOrphans bool
	rmi           string
	timeout       int
}

func newDownCmd(g *globalOptions) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down [OPTIONS]",
		Short: "Stop and remove containers, networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.volumes, "volumes", "v", false, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.StringVar(&o.rmi, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	f.IntVarP(&o.timeout, "timeout", "t", -1, "Specify a shutdown timeout in seconds")
	return cmd
}

func runDown(ctx context.Context, g *globalOptions, o *downOptions) error {
	switch o.rmi {
	case "", "local", "all":
	default:
		return fmt.Errorf("invalid --rmi %q: use local or all", o.rmi)
	}
	name, p, err := g.name(ctx)
	if err != nil {
		return err
	}
	rt, err := g.connect(ctx, name)
	if err != nil {
		return err
	}
	defer rt.Close()
	unlock, err := rt.LockProject(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	obs, err := observe(ctx, rt, name, nil)
	if err != nil {
		return err
	}
	removeOrphans, _ := orphanSettings(p)
	plan := planner.Down(p, obs, planner.DownOptions{
		Volumes:       o.volumes,
		RemoveOrphans: o.removeOrphans || removeOrphans,
		Images:        o.rmi,
		Timeout:       timeoutFlag(o.timeout),
	})
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	progress := g.newProgress("Running")
	for _, w := range plan.Warnings {
		progress.Warn(w)
	}
	if plan.Empty() {
		fmt.Fprintf(g.streams.Err, "No resource found to remove for project %q.\n", name)
		return nil
	}
	_, err = reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: progress.Event})
	return err
}
