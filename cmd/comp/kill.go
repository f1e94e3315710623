package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

type killOptions struct {
	signal        string
	removeOrphans bool
}

func newKillCmd(g *globalOptions) *cobra.Command {
	o := &killOptions{}
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKill(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	cmd.Flags().BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	return cmd
}

// runKill sends a signal to the running containers of services (all when none are named).
func runKill(ctx context.Context, g *globalOptions, o *killOptions, services []string) error {
	sig, err := normalizeSignal(o.signal)
	if err != nil {
		return err
	}
	name, p, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := projectContainers(ctx, rt, name, false, oneoffExclude)
	if err != nil {
		return err
	}
	cs = selectServices(cs, services)
	if o.removeOrphans || envBool("COMPOSE_REMOVE_ORPHANS") {
		if err := removeOrphans(ctx, g, rt, name, p); err != nil {
			return err
		}
	}
	if len(cs) == 0 {
		fmt.Fprintln(g.streams.Err, "no container to kill")
		return nil
	}
	if g.dryRun {
		for _, c := range cs {
			fmt.Fprintf(g.streams.Out, "%s %s  Kill (%s)\n", planner.KindContainer, c.Name, sig)
		}
		return nil
	}
	progress := g.newProgress("Running")
	return forEachContainer(ctx, g.parallel, cs, func(ctx context.Context, c runtime.Container) error {
		progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Killing", State: reconcile.Working})
		if err := rt.KillContainer(ctx, c.ID, sig); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			err = fmt.Errorf("kill container %s: %w", c.Name, err)
			progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Error", State: reconcile.Error, Detail: err.Error()})
			return err
		}
		progress.Event(reconcile.Event{Kind: planner.KindContainer, Name: c.Name, Status: "Killed", State: reconcile.Done})
		return nil
	})
}

// removeOrphans stops and removes the containers of services that the compose file no longer
// has. Without a compose file nothing is an orphan.
func removeOrphans(ctx context.Context, g *globalOptions, rt runtime.Runtime, name string, p *project.Project) error {
	if p == nil {
		return nil
	}
	cs, err := projectContainers(ctx, rt, name, true, oneoffExclude)
	if err != nil {
		return err
	}
	var orphans []runtime.Container
	for _, c := range cs {
		if !slices.Contains(p.AllServices, serviceOf(c)) {
			orphans = append(orphans, c)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	plan := &planner.Plan{}
	planner.StopOrder(orphans, planner.RemoveContainer, nil, plan)
	return reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: g.newProgress("Running").Event})
}

// normalizeSignal accepts a signal as Docker does (KILL, SIGKILL, 9) and names it SIGKILL.
func normalizeSignal(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "", errors.New("invalid --signal \"\": name a signal such as SIGTERM or 9")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return "", fmt.Errorf("invalid --signal %q: signal numbers run from 1 to 64", s)
		}
		return s, nil
	}
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	return s, nil
}
