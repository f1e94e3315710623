package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
)

type buildOptions struct {
	noCache   bool
	pull      bool
	buildArgs []string
	quiet     bool
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "Set build-time variables for services (KEY=VALUE)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	return cmd
}

// runBuild builds the services that have a build: section (all, or those named), in one plan
// so that independent builds run side by side.
func runBuild(ctx context.Context, g *globalOptions, o *buildOptions, services []string) error {
	opts := g.projectOptions(services)
	opts.NoDeps = true
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	args := map[string]*string{}
	for _, kv := range o.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("invalid --build-arg %q: use KEY=VALUE", kv)
		}
		args[k] = &v
	}
	plan, err := planner.Build(p, planner.BuildOptions{NoCache: o.noCache, Pull: o.pull, Args: args})
	if err != nil {
		return err
	}
	if plan.Empty() {
		fmt.Fprintln(g.streams.Err, "No service to build: none has a build: section")
		return nil
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	// A build the runtime's builder cannot do stops before any other is started.
	if err := p.CheckBuildSupport(rt.Name()); err != nil {
		return err
	}
	if err := reconcile.CheckBuilds(plan, rt); err != nil {
		return err
	}
	return g.apply(ctx, rt, plan, "Building")
}
