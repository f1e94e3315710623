package main

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
)

type pullOptions struct {
	ignoreFailures  bool
	ignoreBuildable bool
	includeDeps     bool
	quiet           bool
	policy          string
}

func newPullCmd(g *globalOptions) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreFailures, "ignore-pull-failures", false, "Pull what it can and ignores images with pull failures")
	f.BoolVar(&o.ignoreBuildable, "ignore-buildable", false, "Ignore images that can be built")
	f.BoolVar(&o.includeDeps, "include-deps", false, "Also pull services declared as dependencies")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Pull without printing progress information")
	f.StringVar(&o.policy, "policy", "", `Apply pull policy ("missing"|"always")`)
	return cmd
}

func runPull(ctx context.Context, g *globalOptions, o *pullOptions, services []string) error {
	switch o.policy {
	case "", types.PullPolicyMissing, types.PullPolicyAlways:
	default:
		return fmt.Errorf("invalid --policy %q: use missing or always", o.policy)
	}
	opts := g.projectOptions(services)
	opts.NoDeps = !o.includeDeps
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	obs, err := observe(ctx, rt, p.Name, p)
	if err != nil {
		return err
	}
	plan := planner.Pull(p, obs, planner.PullOptions{Policy: o.policy, IgnoreBuildable: o.ignoreBuildable, IgnoreFailures: o.ignoreFailures})
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	progress := g.newProgress("Pulling")
	if o.quiet {
		progress.mode = "quiet"
	}
	_, err = reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: progress.Event})
	return err
}
