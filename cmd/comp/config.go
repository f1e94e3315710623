package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
)

type configOptions struct {
	format   string
	quiet    bool
	services bool
	volumes  bool
	networks bool
	images   bool
	hash     string
	output   string
}

func newConfigCmd(g *globalOptions) *cobra.Command {
	o := &configOptions{}
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "yaml", `Format the output. Values: [yaml | json]`)
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	f.BoolVar(&o.services, "services", false, "Print the service names, one per line")
	f.BoolVar(&o.volumes, "volumes", false, "Print the volume names, one per line")
	f.BoolVar(&o.networks, "networks", false, "Print the network names, one per line")
	f.BoolVar(&o.images, "images", false, "Print the image names, one per line")
	f.StringVar(&o.hash, "hash", "", `Print the service config hash, one per line ("*" for all services)`)
	f.StringVarP(&o.output, "output", "o", "", "Save to file (default to stdout)")
	return cmd
}

func runConfig(ctx context.Context, g *globalOptions, o *configOptions, services []string) error {
	if o.format != "yaml" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: use yaml or json", o.format)
	}
	p, err := g.load(ctx, services...)
	if err != nil {
		return err
	}
	if o.quiet {
		return nil
	}
	var out strings.Builder
	if err := renderConfig(&out, p, o); err != nil {
		return err
	}
	if o.output != "" {
		if err := os.WriteFile(o.output, []byte(out.String()), 0o644); err != nil {
			return fmt.Errorf("write config to %s: %w", o.output, err)
		}
		return nil
	}
	_, err = io.WriteString(g.streams.Out, out.String())
	return err
}

// renderConfig writes what o asks of p: a list (services, volumes, networks, images, hashes)
// one item per line, or the whole normalized project as YAML or JSON.
func renderConfig(w io.Writer, p *project.Project, o *configOptions) error {
	switch {
	case o.services:
		for _, name := range servicesInOrder(p) {
			fmt.Fprintln(w, name)
		}
	case o.volumes:
		for _, key := range sortedKeys(p.Volumes) {
			fmt.Fprintln(w, key)
		}
	case o.networks:
		for _, key := range sortedKeys(p.Networks) {
			fmt.Fprintln(w, key)
		}
	case o.images:
		for _, name := range servicesInOrder(p) {
			fmt.Fprintln(w, p.Services[name].Image)
		}
	case o.hash != "":
		names := servicesInOrder(p)
		if o.hash != "*" {
			names = strings.Split(o.hash, ",")
		}
		for _, name := range names {
			s, err := p.GetService(name)
			if err != nil {
				return fmt.Errorf("no such service: %s", name)
			}
			h, err := project.ConfigHash(s)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s %s\n", name, h)
		}
	case o.format == "json":
		b, err := p.MarshalJSON()
		if err != nil {
			return fmt.Errorf("render project %s as JSON: %w", p.Name, err)
		}
		fmt.Fprintln(w, string(b))
	default:
		b, err := p.MarshalYAML()
		if err != nil {
			return fmt.Errorf("render project %s as YAML: %w", p.Name, err)
		}
		_, err = w.Write(b)
		return err
	}
	return nil
}

// servicesInOrder lists p's services dependencies first, by name within a level, the same on
// every run.
func servicesInOrder(p *project.Project) []string {
	levels, err := planner.ServiceGraph(p).Levels()
	if err != nil {
		return sortedKeys(p.Services)
	}
	var names []string
	for _, level := range levels {
		for _, name := range level {
			if _, ok := p.Services[name]; ok {
				names = append(names, name)
			}
		}
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
