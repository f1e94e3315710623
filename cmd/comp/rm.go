package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

type rmOptions struct {
	force   bool
	stop    bool
	volumes bool
}

func newRmCmd(g *globalOptions) *cobra.Command {
	o := &rmOptions{}
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		Long: `Removes stopped service containers.

By default, anonymous volumes attached to containers are not removed. You can override this with -v.

Any data which is not in a volume is lost.

Stopped one-off containers created by comp run are removed too.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRm(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "f", false, "Don't ask to confirm removal")
	f.BoolVarP(&o.stop, "stop", "s", false, "Stop the containers, if required, before removing")
	f.BoolVarP(&o.volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	return cmd
}

// runRm removes the stopped containers of services (all when none are named), after asking on a
// terminal unless -f; with -s it stops them first.
func runRm(ctx context.Context, g *globalOptions, o *rmOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	if o.stop && !g.dryRun {
		if err := stopServices(ctx, g, rt, name, services, nil); err != nil {
			return err
		}
	}
	cs, err := projectContainers(ctx, rt, name, true, oneoffInclude)
	if err != nil {
		return err
	}
	var stopped []runtime.Container
	var names []string
	for _, c := range planner.Select(cs, services) {
		if !isActive(c) || (o.stop && g.dryRun) {
			stopped = append(stopped, c)
			names = append(names, c.Name)
		}
	}
	if len(stopped) == 0 {
		fmt.Fprintln(g.streams.Err, "No stopped containers")
		return nil
	}
	msg := "Going to remove " + strings.Join(names, ", ")
	switch {
	case o.force:
		fmt.Fprintln(g.streams.Out, msg)
	case g.streams.InTTY:
		ok, err := confirm(g, msg)
		if err != nil || !ok {
			return err
		}
	default:
		fmt.Fprintln(g.streams.Out, msg)
		return errors.New("not removing without confirmation: stdin is not a terminal; pass -f to remove")
	}
	plan := planner.Remove(stopped, planner.RemoveOptions{Force: o.force, Volumes: o.volumes})
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return nil
	}
	return g.apply(ctx, rt, plan, "Running")
}

// confirm asks a yes/no question on the terminal; only y or yes is yes.
func confirm(g *globalOptions, msg string) (bool, error) {
	fmt.Fprintf(g.streams.Out, "%s\nAre you sure? [yN] ", msg)
	line, err := bufio.NewReader(g.streams.In).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(g.streams.Out)
		return false, nil
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}
