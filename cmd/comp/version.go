package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// versionInfoTimeout bounds how long `version` waits for the runtime to answer.
const versionInfoTimeout = 5 * time.Second

type versionOptions struct {
	format string
	short  bool
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	o := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the comp version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), g, o)
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "pretty", `Format the output. Values: [pretty | json]`)
	cmd.Flags().BoolVar(&o.short, "short", false, "Shows only comp's version number")
	return cmd
}

// versionReport is what `version --format json` prints.
type versionReport struct {
	Version string        `json:"version"`
	Runtime string        `json:"runtime"`
	Server  *runtime.Info `json:"server,omitempty"`
	// Error says why the runtime did not answer; it is not a failure of `version`.
	Error string `json:"error,omitempty"`
}

func runVersion(ctx context.Context, g *globalOptions, o *versionOptions) error {
	if o.format != "pretty" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: use pretty or json", o.format)
	}
	if o.short {
		fmt.Fprintln(g.streams.Out, project.Version)
		return nil
	}
	report := versionReport{Version: project.Version, Runtime: g.runtimeName}
	ctx, cancel := context.WithTimeout(ctx, versionInfoTimeout)
	defer cancel()
	if rt, err := g.runtime(ctx); err != nil {
		report.Error = err.Error()
	} else {
		info, err := rt.Info(ctx)
		_ = rt.Close()
		if err != nil {
			report.Error = err.Error()
		} else {
			report.Server = &info
		}
	}
	return printVersion(g.streams.Out, report, o.format)
}

func printVersion(w io.Writer, r versionReport, format string) error {
	if format == "json" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	fmt.Fprintf(w, "comp version %s\n", r.Version)
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "Runtime: %s (not available: %s)\n", r.Runtime, r.Error)
	case r.Server != nil:
		s := r.Server
		line := fmt.Sprintf("Runtime: %s", r.Runtime)
		if s.ServerVersion != "" {
			line += ", server " + s.ServerVersion
		}
		var details []string
		if s.APIVersion != "" {
			details = append(details, "API "+s.APIVersion)
		}
		if s.OS != "" || s.Arch != "" {
			details = append(details, strings.Trim(s.OS+"/"+s.Arch, "/"))
		}
		if len(details) > 0 {
			line += " (" + strings.Join(details, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		if len(s.Features) > 0 {
			fmt.Fprintf(w, "Features: %s\n", strings.Join(s.Features, ", "))
		}
	}
	return nil
}
