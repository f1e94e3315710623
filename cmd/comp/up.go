package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/logs"
	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

type upOptions struct {
	detach        bool
	forceRecreate bool
	noRecreate    bool
	noDeps        bool
	removeOrphans bool
	noStart       bool
	scale         []string
	pull          string
	timeout       int
	noColor       bool
	noLogPrefix   bool
	timestamps    bool
}

func newUpCmd(g *globalOptions) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: Run containers in the background")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	f.BoolVar(&o.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.BoolVar(&o.noStart, "no-start", false, "Don't start the services after creating them")
	f.StringArrayVar(&o.scale, "scale", nil, "Scale SERVICE to NUM instances (SERVICE=NUM)")
	f.StringVar(&o.pull, "pull", "policy", `Pull image before running ("always"|"missing"|"never")`)
	f.IntVarP(&o.timeout, "timeout", "t", -1, "Use this timeout in seconds for container shutdown when containers are already running")
	f.BoolVar(&o.noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	f.BoolVar(&o.timestamps, "timestamps", false, "Show timestamps")
	return cmd
}

// timeoutFlag turns a -t value into a stop timeout; negative means the container's own.
func timeoutFlag(seconds int) *time.Duration {
	if seconds < 0 {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

func parseScale(flags []string) (map[string]int, error) {
	scale := map[string]int{}
	for _, s := range flags {
		name, num, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("invalid --scale %q: use SERVICE=NUM", s)
		}
		scale[name] = n
	}
	return scale, nil
}

func runUp(ctx context.Context, g *globalOptions, o *upOptions, services []string) error {
	switch o.pull {
	case "policy":
		o.pull = ""
	case "", "always", "missing", "never":
	default:
		return fmt.Errorf("invalid --pull %q: use always, missing or never", o.pull)
	}
	scale, err := parseScale(o.scale)
	if err != nil {
		return err
	}
	opts := g.projectOptions(services)
	opts.NoDeps = o.noDeps
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	unlock, err := lockProject(ctx, rt, p.Name)
	if err != nil {
		return err
	}
	defer unlock()

	upOpts := planner.UpOptions{
		ForceRecreate: o.forceRecreate,
		NoRecreate:    o.noRecreate,
		NoStart:       o.noStart,
		RemoveOrphans: o.removeOrphans || envBool("COMPOSE_REMOVE_ORPHANS"),
		IgnoreOrphans: envBool("COMPOSE_IGNORE_ORPHANS"),
		Scale:         scale,
		Pull:          o.pull,
		Timeout:       timeoutFlag(o.timeout),
	}
	progress := g.newProgress("Running")
	applyOpts := reconcile.Options{Parallel: g.parallel, Progress: progress.Event}

	obs, err := reconcile.Observe(ctx, rt, p.Name, p)
	if err != nil {
		return err
	}
	plan, err := planner.Up(p, obs, upOpts)
	if err != nil {
		return err
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	// Pull first, then plan again against the images now present, so that a pulled image that
	// differs from the one a container runs is seen as a change.
	if pulls := pullSteps(plan); len(pulls.Steps) > 0 {
		if err := reconcile.Apply(ctx, pulls, rt, applyOpts); err != nil {
			return err
		}
		if obs, err = reconcile.Observe(ctx, rt, p.Name, p); err != nil {
			return err
		}
		upOpts.Pull = "missing"
		if plan, err = planner.Up(p, obs, upOpts); err != nil {
			return err
		}
	}
	if err := reconcile.CheckPorts(plan); err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		progress.Warn(w)
	}
	if o.detach || o.noStart {
		return reconcile.Apply(ctx, plan, rt, applyOpts)
	}
	return attachedUp(ctx, g, o, p, rt, plan, applyOpts)
}

// pullSteps is the part of plan that pulls images.
func pullSteps(plan *planner.Plan) *planner.Plan {
	out := &planner.Plan{}
	for _, st := range plan.Steps {
		if st.Action == planner.PullImage {
			out.Steps = append(out.Steps, st)
		}
	}
	return out
}

// attachedUp applies the plan while streaming the project's logs, until every container has
// exited or the user presses Ctrl-C (once: stop gracefully; twice: kill).
func attachedUp(ctx context.Context, g *globalOptions, o *upOptions, p *project.Project, rt runtime.Runtime,
	plan *planner.Plan, applyOpts reconcile.Options) error {

	printer := logs.NewPrinter(g.streams.Out, logs.Options{
		Color:      g.streams.ColorOut() && !o.noColor,
		Prefix:     !o.noLogPrefix,
		Timestamps: o.timestamps,
	})
	var names []string
	for _, st := range plan.Steps {
		if st.Kind == planner.KindContainer && st.Action != planner.RemoveContainer {
			s, _ := p.GetService(st.Service)
			names = append(names, project.DisplayName(s, st.Number))
		}
	}
	sort.Strings(names)
	printer.Register(names...)

	if err := reconcile.Apply(ctx, plan, rt, applyOpts); err != nil {
		return err
	}
	// Follow once the containers exist: the follower then knows them all (it ends when all
	// have exited), and it prints every container's output from its start, so nothing that was
	// printed meanwhile is lost.
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	followed := make(chan error, 1)
	go func() {
		followed <- logs.Follow(followCtx, rt, logs.FollowOptions{
			Project:      p.Name,
			Services:     p.ServiceNames(),
			Follow:       true,
			Tail:         logs.TailAll,
			UntilAllExit: true,
			OnExit:       printer.Exited,
			// Containers quick to exit may be done before the follower lists them.
			ReportEarlierExits: true,
		}, printer)
	}()
	fmt.Fprintf(g.streams.Out, "Attaching to %s\n", strings.Join(names, ", "))

	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupts)
	select {
	case err := <-followed:
		return err
	case <-interrupts:
	}
	fmt.Fprintln(g.streams.Err, "Gracefully stopping... (press Ctrl+C again to force)")
	stopCtx, cancelStop := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStop()
	stopped := make(chan error, 1)
	go func() { stopped <- stopProject(stopCtx, g, rt, p.Name, timeoutFlag(o.timeout), false) }()
	select {
	case err := <-stopped:
		stopFollow()
		<-followed
		return err
	case <-interrupts:
		cancelStop()
		<-stopped
		err := stopProject(context.WithoutCancel(ctx), g, rt, p.Name, nil, true)
		stopFollow()
		<-followed
		if err != nil {
			return err
		}
		return &exitStatus{code: 130}
	}
}

// stopProject stops (or, with kill, kills) the project's running containers in reverse
// dependency order.
func stopProject(ctx context.Context, g *globalOptions, rt runtime.Runtime, name string, timeout *time.Duration, kill bool) error {
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{Project: name})
	if err != nil {
		return err
	}
	if kill {
		var errs []error
		for _, c := range cs {
			if err := rt.KillContainer(ctx, c.ID, "SIGKILL"); err != nil && !errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, runtime.ErrConflict) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	plan := &planner.Plan{}
	planner.StopOrder(cs, planner.StopContainer, timeout, plan)
	return reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: g.newProgress("Stopping").Event})
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}
