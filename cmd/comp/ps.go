package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

type psOptions struct {
	all      bool
	quiet    bool
	services bool
	format   string
	status   []string
	filter   string
	noTrunc  bool
}

// psStates are the values --status accepts, as Docker names container states.
var psStates = []string{
	runtime.StatePaused, runtime.StateRestarting, runtime.StateRemoving, runtime.StateRunning,
	runtime.StateDead, runtime.StateCreated, runtime.StateExited,
}

func newPsCmd(g *globalOptions) *cobra.Command {
	o := &psOptions{}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&o.services, "services", false, "Display services")
	f.StringVar(&o.format, "format", "table", `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template`)
	f.StringArrayVar(&o.status, "status", nil, "Filter services by status. Values: ["+strings.Join(psStates, ", ")+"]")
	f.StringVar(&o.filter, "filter", "", "Filter services by a property (supported filters: status)")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
}

func runPs(ctx context.Context, g *globalOptions, o *psOptions, services []string) error {
	status := append([]string(nil), o.status...)
	if o.filter != "" {
		key, value, ok := strings.Cut(o.filter, "=")
		if !ok || key != "status" {
			return fmt.Errorf("invalid --filter %q: only status=STATE is supported", o.filter)
		}
		status = append(status, value)
	}
	for _, s := range status {
		if !slices.Contains(psStates, s) {
			return fmt.Errorf("invalid --status %q: use one of %s", s, strings.Join(psStates, ", "))
		}
	}
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	// Compose lists `run` containers too: they are the project's while they exist.
	cs, err := projectContainers(ctx, rt, name, o.all || len(status) > 0, oneoffInclude)
	if err != nil {
		return err
	}
	cs = planner.Select(cs, services)
	if len(status) > 0 {
		var kept []runtime.Container
		for _, c := range cs {
			if slices.Contains(status, c.State) {
				kept = append(kept, c)
			}
		}
		cs = kept
	}
	return printPs(g.streams.Out, cs, o, time.Now())
}

// printPs writes cs as -q, --services, --format json, a Go template or the table asks.
func printPs(w io.Writer, cs []runtime.Container, o *psOptions, now time.Time) error {
	switch {
	case o.quiet:
		for _, c := range cs {
			fmt.Fprintln(w, c.ID)
		}
		return nil
	case o.services:
		var seen []string
		for _, c := range cs {
			if s := serviceOf(c); !slices.Contains(seen, s) {
				seen = append(seen, s)
				fmt.Fprintln(w, s)
			}
		}
		return nil
	}
	switch format := o.format; {
	case format == "" || format == "table":
		tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
		for _, c := range cs {
			command := c.Command
			if !o.noTrunc {
				command = ellipsis(command, 20)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Image, strconv.Quote(command), serviceOf(c),
				runningFor(c, now), statusText(c, now), displayPorts(c.Ports))
		}
		return tw.Flush()
	case format == "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, c := range cs {
			if err := enc.Encode(newPsRow(c, now)); err != nil {
				return err
			}
		}
		return nil
	default:
		table := strings.HasPrefix(format, "table ")
		tmpl, err := template.New("ps").Parse(strings.TrimPrefix(format, "table "))
		if err != nil {
			return fmt.Errorf("invalid --format template: %w", err)
		}
		out := w
		var tw *tabwriter.Writer
		if table {
			tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
			out = tw
		}
		for _, c := range cs {
			if err := tmpl.Execute(out, newPsRow(c, now)); err != nil {
				return fmt.Errorf("format container %s: %w", c.Name, err)
			}
			fmt.Fprintln(out)
		}
		if tw != nil {
			return tw.Flush()
		}
		return nil
	}
}

// psRow is one container as `ps --format json` prints it: the fields of `docker compose ps`,
// in its (alphabetical) order, with nothing truncated.
type psRow struct {
	Command      string
	CreatedAt    string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []publisher
	RestartCount int
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
}

// publisher is one port of a container, as Compose reports it.
type publisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

func newPsRow(c runtime.Container, now time.Time) psRow {
	labels := make([]string, 0, len(c.Labels))
	for k, v := range c.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	networks := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		networks = append(networks, n)
	}
	sort.Strings(networks)
	var mounts []string
	volumes := 0
	for _, m := range c.Mounts {
		name := m.Source
		if m.Type == runtime.MountVolume {
			volumes++
		}
		if name != "" {
			mounts = append(mounts, name)
		}
	}
	row := psRow{
		Command:      strconv.Quote(c.Command),
		CreatedAt:    formatCreated(c.Created),
		ExitCode:     c.ExitCode,
		Health:       c.Health,
		ID:           c.ID,
		Image:        c.Image,
		Labels:       strings.Join(labels, ","),
		LocalVolumes: strconv.Itoa(volumes),
		Mounts:       strings.Join(mounts, ","),
		Name:         c.Name,
		Names:        c.Name,
		Networks:     strings.Join(networks, ","),
		Ports:        displayPorts(c.Ports),
		Project:      c.Labels[runtime.LabelProject],
		Publishers:   publishers(c.Ports),
		RestartCount: c.RestartCount,
		RunningFor:   runningFor(c, now),
		Service:      serviceOf(c),
		Size:         "0B",
		State:        c.State,
		Status:       statusText(c, now),
	}
	return row
}

// formatCreated prints a creation time as the Docker CLI does (Go's time.Time.String, to the
// second, in local time).
func formatCreated(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 -0700 MST")
}

// runningFor is the CREATED column: how long ago the container was created.
func runningFor(c runtime.Container, now time.Time) string {
	if c.Created.IsZero() {
		return ""
	}
	return units.HumanDuration(now.Sub(c.Created)) + " ago"
}

// publishers lists c's ports, published or only exposed, sorted; never nil, so JSON shows [].
func publishers(ports []runtime.Port) []publisher {
	out := make([]publisher, 0, len(ports))
	for _, p := range ports {
		out = append(out, publisher{URL: p.HostIP, TargetPort: int(p.ContainerPort), PublishedPort: int(p.HostPort), Protocol: p.Protocol})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.TargetPort != b.TargetPort {
			return a.TargetPort < b.TargetPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.URL != b.URL {
			return a.URL < b.URL
		}
		return a.PublishedPort < b.PublishedPort
	})
	return out
}

// statusText is a container's STATUS as Docker words it: `Up 5 seconds`, `Up 2 minutes
// (healthy)`, `Up 3 seconds (health: starting)`, `Up 1 second (Paused)`, `Restarting (1) 2
// seconds ago`, `Exited (1) 3 seconds ago`, `Created`, `Dead`, `Removal In Progress`.
func statusText(c runtime.Container, now time.Time) string {
	switch c.State {
	case runtime.StateRunning:
		up := "Up " + units.HumanDuration(now.Sub(c.StartedAt))
		switch c.Health {
		case runtime.HealthNone:
			return up
		case runtime.HealthStarting:
			return up + " (health: starting)"
		default:
			return up + " (" + c.Health + ")"
		}
	case runtime.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(c.StartedAt)) + " (Paused)"
	case runtime.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.FinishedAt)))
	case runtime.StateRemoving:
		return "Removal In Progress"
	case runtime.StateDead:
		return "Dead"
	case runtime.StateCreated:
		return "Created"
	case runtime.StateExited:
		if c.StartedAt.IsZero() {
			return "Created"
		}
		if c.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", c.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.FinishedAt)))
	}
	return c.State
}

// displayPorts renders ports as the PORTS column of `docker ps` does: published ports as
// `127.0.0.1:8080->80/tcp` (all interfaces as 0.0.0.0, IPv6 in brackets), exposed-only ports as
// `80/tcp`, consecutive ports grouped into ranges (`8000-8002->8000-8002/tcp`).
func displayPorts(ports []runtime.Port) string {
	type group struct {
		first, last uint16
	}
	sorted := append([]runtime.Port(nil), ports...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return hostIP(a) < hostIP(b)
	})
	groups := map[string]*group{}
	var keys, result, mappings []string
	for _, p := range sorted {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		key := proto
		if p.HostPort != 0 {
			if p.HostPort != p.ContainerPort {
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s",
					net.JoinHostPort(hostIP(p), strconv.Itoa(int(p.HostPort))), p.ContainerPort, proto))
				continue
			}
			key = hostIP(p) + "/" + proto
		}
		g := groups[key]
		switch {
		case g == nil:
			groups[key] = &group{first: p.ContainerPort, last: p.ContainerPort}
			keys = append(keys, key)
		case p.ContainerPort == g.last+1:
			g.last = p.ContainerPort
		case p.ContainerPort == g.last:
			// The same port again (an IPv4 and an IPv6 binding share a group key only when
			// the address matches): nothing to add.
		default:
			result = append(result, formatPortGroup(key, g.first, g.last))
			groups[key] = &group{first: p.ContainerPort, last: p.ContainerPort}
		}
	}
	for _, key := range keys {
		g := groups[key]
		result = append(result, formatPortGroup(key, g.first, g.last))
	}
	return strings.Join(append(result, mappings...), ", ")
}

// formatPortGroup renders a run of ports under key "proto" (exposed) or "ip/proto" (published
// on the same host ports).
func formatPortGroup(key string, first, last uint16) string {
	ip, proto, published := strings.Cut(key, "/")
	if !published {
		ip, proto = "", key
	}
	ports := strconv.Itoa(int(first))
	if first != last {
		ports += "-" + strconv.Itoa(int(last))
	}
	if published {
		host := net.JoinHostPort(ip, ports)
		return fmt.Sprintf("%s->%s/%s", host, ports, proto)
	}
	return ports + "/" + proto
}

// hostIP is the address a port is published on; all interfaces show as 0.0.0.0.
func hostIP(p runtime.Port) string {
	if p.HostIP == "" {
		return "0.0.0.0"
	}
	return p.HostIP
}

// ellipsis shortens s to at most width runes, the last one "…", as the Docker CLI truncates.
func ellipsis(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
