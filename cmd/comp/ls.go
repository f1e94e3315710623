package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
)

type lsOptions struct {
	all    bool
	quiet  bool
	format string
	filter []string
}

func newLsCmd(g *globalOptions) *cobra.Command {
	o := &lsOptions{}
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLs(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all stopped Compose projects")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display project names")
	f.StringVar(&o.format, "format", "table", `Format the output. Values: [table | json]`)
	f.StringArrayVar(&o.filter, "filter", nil, "Filter output based on conditions provided (name=NAME)")
	return cmd
}

// projectSummary is one line of `ls`, with the JSON names Compose uses.
type projectSummary struct {
	Name        string
	Status      string
	ConfigFiles string
}

func runLs(ctx context.Context, g *globalOptions, o *lsOptions) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: use table or json", o.format)
	}
	var names []string
	for _, f := range o.filter {
		key, value, ok := strings.Cut(f, "=")
		if !ok || key != "name" {
			return fmt.Errorf("invalid --filter %q: only name=NAME is supported", f)
		}
		names = append(names, value)
	}
	rt, err := g.connect(ctx, "") // every project: their records are what ls reports
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	projects := summarizeProjects(cs, o.all)
	if len(names) > 0 {
		var kept []projectSummary
		for _, p := range projects {
			for _, n := range names {
				if strings.Contains(p.Name, n) {
					kept = append(kept, p)
					break
				}
			}
		}
		projects = kept
	}
	return printLs(g.streams.Out, projects, o)
}

// summarizeProjects groups containers by their project label, sorted by name. Without all, only
// running containers count, and a project with none is left out, as `docker compose ls` does.
func summarizeProjects(cs []runtime.Container, all bool) []projectSummary {
	type acc struct {
		states []string
		files  []string
	}
	byName := map[string]*acc{}
	for _, c := range cs {
		name := c.Labels[runtime.LabelProject]
		if name == "" || (!all && !isActive(c)) {
			continue
		}
		a := byName[name]
		if a == nil {
			a = &acc{}
			byName[name] = a
		}
		a.states = append(a.states, c.State)
		if f := c.Labels[runtime.LabelConfigFiles]; f != "" && !slices.Contains(a.files, f) {
			a.files = append(a.files, f)
		}
	}
	out := make([]projectSummary, 0, len(byName))
	for name, a := range byName {
		sort.Strings(a.files)
		out = append(out, projectSummary{Name: name, Status: combinedStatus(a.states), ConfigFiles: strings.Join(a.files, ",")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// combinedStatus counts states as Compose prints them: `exited(1), running(2)`, sorted by state.
func combinedStatus(states []string) string {
	count := map[string]int{}
	var keys []string
	for _, s := range states {
		if count[s] == 0 {
			keys = append(keys, s)
		}
		count[s]++
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, s := range keys {
		parts = append(parts, fmt.Sprintf("%s(%d)", s, count[s]))
	}
	return strings.Join(parts, ", ")
}

func printLs(w io.Writer, projects []projectSummary, o *lsOptions) error {
	switch {
	case o.quiet:
		for _, p := range projects {
			fmt.Fprintln(w, p.Name)
		}
		return nil
	case o.format == "json":
		if projects == nil {
			projects = []projectSummary{}
		}
		b, err := json.Marshal(projects)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
	for _, p := range projects {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
	}
	return tw.Flush()
}
