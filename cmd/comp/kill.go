package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
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
	obs, err := observe(ctx, rt, name, nil)
	if err != nil {
		return err
	}
	if removeOrphans, _ := orphanSettings(p); (o.removeOrphans || removeOrphans) && p != nil {
		plan := planner.Remove(planner.Orphans(p, obs.Containers), planner.RemoveOptions{Stop: true, Force: true, Volumes: true})
		if g.dryRun {
			fmt.Fprint(g.streams.Out, plan.String())
		} else if err := g.apply(ctx, rt, plan, "Running"); err != nil {
			return err
		}
	}
	plan := planner.Kill(obs, services, sig)
	if plan.Empty() {
		fmt.Fprintln(g.streams.Err, "no container to kill")
		return nil
	}
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	return g.apply(ctx, rt, plan, "Running")
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
