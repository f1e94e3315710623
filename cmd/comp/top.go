package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

func newTopCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTop(cmd.Context(), g, args)
		},
	}
}

// runTop prints, for each running container of services (all when none are named), its name
// and then its processes as a table.
func runTop(ctx context.Context, g *globalOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := projectContainers(ctx, rt, name, false, oneoffInclude)
	if err != nil {
		return err
	}
	cs = planner.Select(cs, services)
	tops := make([]runtime.Top, len(cs))
	err = forEach(ctx, g.parallel, len(cs), func(ctx context.Context, i int) error {
		top, err := rt.Top(ctx, cs[i].ID)
		if err != nil {
			return fmt.Errorf("list processes of container %s: %w", cs[i].Name, err)
		}
		tops[i] = top
		return nil
	})
	if err != nil {
		return err
	}
	for i, c := range cs {
		printTop(g.streams.Out, c.Name, tops[i])
	}
	return nil
}

// printTop writes a container's name, its process table, then a blank line.
func printTop(w io.Writer, name string, top runtime.Top) {
	fmt.Fprintln(w, name)
	tw := tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
	for _, proc := range top.Processes {
		fmt.Fprintln(tw, strings.Join(proc, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}
