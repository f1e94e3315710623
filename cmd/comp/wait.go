package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

type waitOptions struct {
	downProject bool
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...] [OPTIONS]",
		Short: "Block until containers of all (or specified) services stop.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.downProject, "down-project", false, "Drops project when the first container stops")
	return cmd
}

// runWait blocks until the containers of services have exited, printing each one's exit code as
// it exits; comp's exit status is the exit code of the first to exit. With --down-project, the
// first exit takes the project down instead of waiting for the others.
func runWait(ctx context.Context, g *globalOptions, o *waitOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	code, err := waitContainers(ctx, rt, g.streams.Out, name, services, o.downProject)
	if err != nil {
		return err
	}
	if o.downProject {
		if err := runDown(ctx, g, &downOptions{removeOrphans: true, timeout: -1}); err != nil {
			return err
		}
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}

// waitContainers waits for the containers of services in project name that have run: running
// ones until they exit, exited ones at once (as `docker wait` does). It prints
// `container "NAME" exited with status code N` for each as it exits and returns the exit code
// of the first; with first, it returns after the first.
func waitContainers(ctx context.Context, rt runtime.Runtime, w io.Writer, name string, services []string, first bool) (int, error) {
	cs, err := projectContainers(ctx, rt, name, true, oneoffInclude)
	if err != nil {
		return 0, err
	}
	cs = slices.DeleteFunc(planner.Select(cs, services), func(c runtime.Container) bool {
		return c.State == runtime.StateCreated || c.State == runtime.StateRemoving
	})
	if len(cs) == 0 {
		return 0, fmt.Errorf("no containers for project %q", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c    runtime.Container
		code int
		err  error
	}
	results := make(chan result, len(cs))
	for _, c := range cs {
		go func() {
			code, err := rt.WaitContainer(ctx, c.ID)
			results <- result{c, code, err}
		}()
	}
	var firstCode int
	for i := range cs {
		r := <-results
		if r.err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("wait for container %s: %w", r.c.Name, r.err)
		}
		fmt.Fprintf(w, "container %q exited with status code %d\n", r.c.Name, r.code)
		if i == 0 {
			firstCode = r.code
			if first {
				break
			}
		}
	}
	return firstCode, nil
}
