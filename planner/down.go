package planner

import (
	"sort"
	"strings"
	"time"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// DownOptions are the flags of `down`.
type DownOptions struct {
	// Volumes removes the project's named volumes (-v).
	Volumes bool
	// RemoveOrphans also removes containers of services not in the compose file.
	RemoveOrphans bool
	// Images is --rmi: "" (none), "local" (images without a custom tag) or "all".
	Images  string
	Timeout *time.Duration
}

// Down plans `down`: containers stopped and removed in reverse dependency order (dependents
// first), then the project's networks, then with Volumes its named volumes. p may be nil when no
// compose file is at hand; the dependency graph then comes from the containers' depends_on
// labels, and every container of the project is removed.
func Down(p *project.Project, obs Observed, opts DownOptions) *Plan {
	plan := &Plan{}
	known := map[string]bool{}
	if p != nil {
		for name := range p.Services {
			known[name] = true
		}
		for name := range p.DisabledServices {
			known[name] = true
		}
	}
	var containers []runtime.Container
	var orphans []string
	for _, c := range obs.Containers {
		svc := c.Labels[runtime.LabelService]
		if p != nil && !known[svc] && c.Labels[runtime.LabelOneoff] != "True" && !opts.RemoveOrphans {
			orphans = append(orphans, c.Name)
			continue
		}
		containers = append(containers, c)
	}
	if len(orphans) > 0 {
		sort.Strings(orphans)
		plan.Warnings = append(plan.Warnings, "Found orphan containers (["+strings.Join(orphans, " ")+"]) for this project. "+
			"If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.")
	}
	removals := StopOrder(containers, RemoveContainer, opts.Timeout, plan)

	for _, n := range obs.Networks {
		key := n.Labels[runtime.LabelNetwork]
		if p != nil {
			if cfg, ok := p.Networks[key]; ok && bool(cfg.External) {
				continue
			}
		}
		plan.add(&Step{Action: RemoveNetwork, Kind: KindNetwork, Name: n.Name, After: removals, Reason: "project network"})
	}
	if opts.Volumes {
		for _, v := range obs.Volumes {
			key := v.Labels[runtime.LabelVolume]
			if p != nil {
				if cfg, ok := p.Volumes[key]; ok && bool(cfg.External) {
					continue
				}
			}
			plan.add(&Step{Action: RemoveVolume, Kind: KindVolume, Name: v.Name, After: removals, Reason: "--volumes"})
		}
	}
	if opts.Images != "" {
		seen := map[string]bool{}
		for _, c := range containers {
			img := c.Image
			if img == "" || seen[img] {
				continue
			}
			seen[img] = true
			if opts.Images == "local" && !isLocalImage(p, c) {
				continue
			}
			plan.add(&Step{Action: RemoveImage, Kind: KindImage, Name: img, After: removals, Reason: "--rmi " + opts.Images})
		}
	}
	return plan
}

// isLocalImage says whether c's image was named by comp rather than by the user (a service with
// build: and no image:), which is what --rmi local removes.
func isLocalImage(p *project.Project, c runtime.Container) bool {
	if p == nil {
		return false
	}
	s, ok := p.Services[c.Labels[runtime.LabelService]]
	return ok && s.Build != nil && s.Image == ""
}

// StopOrder adds one step per container with the given action (Stop or Remove), each waiting
// for the containers that depend on it, and returns the step IDs. The graph comes from the
// containers' depends_on labels, so it needs no compose file.
func StopOrder(containers []runtime.Container, action Action, timeout *time.Duration, plan *Plan) []string {
	byService := map[string][]string{}
	deps := map[string][]string{}
	for _, c := range containers {
		svc := c.Labels[runtime.LabelService]
		deps[svc] = append(deps[svc], LabelDependencies(c)...)
	}
	g := NewGraph(deps)
	sorted := append([]runtime.Container(nil), containers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var steps []*Step
	for i := range sorted {
		c := sorted[i]
		st := plan.add(&Step{Action: action, Kind: KindContainer, Name: c.Name, Service: c.Labels[runtime.LabelService],
			Number: number(c), Container: &c, Timeout: timeout})
		byService[st.Service] = append(byService[st.Service], st.ID)
		steps = append(steps, st)
	}
	ids := make([]string, 0, len(steps))
	for _, st := range steps {
		for _, dependent := range directDependents(g, st.Service) {
			st.After = append(st.After, byService[dependent]...)
		}
		ids = append(ids, st.ID)
	}
	return ids
}

// LabelDependencies reads the services a container depends on from its depends_on label.
func LabelDependencies(c runtime.Container) []string {
	var out []string
	for _, d := range strings.Split(c.Labels[runtime.LabelDependsOn], ",") {
		if name, _, _ := strings.Cut(d, ":"); name != "" {
			out = append(out, name)
		}
	}
	return out
}

func directDependents(g *Graph, s string) []string {
	var out []string
	for svc, ds := range g.Deps {
		if indexOf(ds, s) >= 0 && svc != s {
			out = append(out, svc)
		}
	}
	sort.Strings(out)
	return out
}
