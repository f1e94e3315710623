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

// Down plans `down`: containers stopped in reverse dependency order (dependents first) and
// removed once stopped, then the project's networks, then with Volumes its named volumes. p
// may be nil when no compose file is at hand; the dependency graph then comes from the
// containers' depends_on labels, and every container of the project is removed.
func Down(p *project.Project, obs Observed, opts DownOptions) *Plan {
	plan := &Plan{}
	var containers []runtime.Container
	var orphans []string
	for _, c := range obs.Containers {
		if p != nil && !opts.RemoveOrphans && isOrphan(p, c) {
			orphans = append(orphans, c.Name)
			continue
		}
		containers = append(containers, c)
	}
	if len(orphans) > 0 {
		sort.Strings(orphans)
		plan.Warnings = append(plan.Warnings, orphanWarning(orphans))
	}
	removals := removeInOrder(plan, containers, RemoveOptions{Stop: true, Force: true, Volumes: true, Timeout: opts.Timeout})

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

// stopInOrder adds a StopContainer step for every running container of containers, each
// after the stops of the containers that depend on it, and returns the step of each
// container by name. The graph comes from the containers' depends_on labels, so it needs no
// compose file.
func stopInOrder(plan *Plan, containers []runtime.Container, timeout *time.Duration, reason string) map[string]*Step {
	g := LabelGraph(containers)
	sorted := sortByName(containers)
	stops := map[string]*Step{}
	byService := map[string][]string{}
	for _, c := range sorted {
		if !active(c) {
			continue
		}
		st := plan.add(containerStep(StopContainer, c, reason))
		st.Timeout = timeout
		stops[c.Name] = st
		byService[st.Service] = append(byService[st.Service], st.ID)
	}
	for _, st := range stops {
		for _, dependent := range directDependents(g, st.Service) {
			st.After = append(st.After, byService[dependent]...)
		}
	}
	return stops
}

// dependentStops are the stop steps of the containers that depend on c's service.
func dependentStops(g *Graph, stops map[string]*Step, service string) []string {
	var out []string
	dependents := directDependents(g, service)
	for _, st := range stops {
		for _, d := range dependents {
			if st.Service == d {
				out = append(out, st.ID)
			}
		}
	}
	sort.Strings(out)
	return out
}

// RemoveOptions say how Remove takes containers away.
type RemoveOptions struct {
	// Stop stops running containers first, dependents before their dependencies (`down`,
	// `rm -s`); without it a running container is removed only with Force.
	Stop bool
	// Force kills a running container to remove it; Volumes removes its anonymous volumes.
	Force, Volumes bool
	Timeout        *time.Duration
}

// Remove plans the removal of containers: with opts.Stop each is stopped (after its
// dependents) and then removed.
func Remove(containers []runtime.Container, opts RemoveOptions) *Plan {
	plan := &Plan{}
	removeInOrder(plan, containers, opts)
	return plan
}

// removeInOrder adds the steps of Remove to plan and returns the IDs of the removals.
func removeInOrder(plan *Plan, containers []runtime.Container, opts RemoveOptions) []string {
	stops := map[string]*Step{}
	if opts.Stop {
		stops = stopInOrder(plan, containers, opts.Timeout, "")
	}
	g := LabelGraph(containers)
	sorted := sortByName(containers)
	var ids []string
	for _, c := range sorted {
		st := plan.add(containerStep(RemoveContainer, c, ""))
		st.Force, st.RemoveVolumes = opts.Force, opts.Volumes
		if stop := stops[c.Name]; stop != nil {
			st.After = []string{stop.ID}
		} else if opts.Stop {
			// Not running: it goes once its dependents are stopped, as in reverse order.
			st.After = dependentStops(g, stops, st.Service)
		}
		ids = append(ids, st.ID)
	}
	return ids
}

// removeContainer adds the steps that take container c away during `up` (scaled down, an
// orphan): a stop when it runs, then its removal.
func removeContainer(plan *Plan, c runtime.Container, timeout *time.Duration, after []string, reason string) {
	if active(c) {
		stop := plan.add(containerStep(StopContainer, c, reason))
		stop.Timeout, stop.After = timeout, after
		after = []string{stop.ID}
	}
	st := plan.add(containerStep(RemoveContainer, c, reason))
	st.After, st.Force, st.RemoveVolumes = after, true, true
}

// isOrphan tells a container of a service that p's files no longer have (a one-off
// container never is one).
func isOrphan(p *project.Project, c runtime.Container) bool {
	if c.Labels[runtime.LabelOneoff] == "True" {
		return false
	}
	svc := c.Labels[runtime.LabelService]
	if _, ok := p.Services[svc]; ok {
		return false
	}
	if _, ok := p.DisabledServices[svc]; ok {
		return false
	}
	for _, name := range p.AllServices {
		if name == svc {
			return false
		}
	}
	return true
}

// Orphans are the containers of cs whose service p's files no longer have.
func Orphans(p *project.Project, cs []runtime.Container) []runtime.Container {
	var out []runtime.Container
	for _, c := range cs {
		if isOrphan(p, c) {
			out = append(out, c)
		}
	}
	return out
}

func orphanWarning(names []string) string {
	return "Found orphan containers ([" + strings.Join(names, " ") + "]) for this project. " +
		"If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up."
}

// LabelDependencies reads the services a container depends on from its depends_on label.
func LabelDependencies(c runtime.Container) []string {
	var out []string
	for _, d := range Dependencies(c) {
		out = append(out, d.Service)
	}
	return out
}

// Dependency is one entry of a container's depends_on label: svc:condition:restart.
type Dependency struct {
	Service   string
	Condition string
	Restart   bool
}

// Dependencies reads a container's depends_on label.
func Dependencies(c runtime.Container) []Dependency {
	var out []Dependency
	for _, d := range strings.Split(c.Labels[runtime.LabelDependsOn], ",") {
		parts := strings.SplitN(d, ":", 3)
		if parts[0] == "" {
			continue
		}
		dep := Dependency{Service: parts[0]}
		if len(parts) > 1 {
			dep.Condition = parts[1]
		}
		if len(parts) > 2 {
			dep.Restart = parts[2] == "true"
		}
		out = append(out, dep)
	}
	return out
}

// LabelGraph is the dependency graph of the services of cs, read from their depends_on labels,
// so that it needs no compose file.
func LabelGraph(cs []runtime.Container) *Graph {
	deps := map[string][]string{}
	for _, c := range cs {
		svc := c.Labels[runtime.LabelService]
		if _, ok := deps[svc]; !ok {
			deps[svc] = nil
		}
		for _, d := range LabelDependencies(c) {
			if indexOf(deps[svc], d) < 0 {
				deps[svc] = append(deps[svc], d)
			}
		}
	}
	return NewGraph(deps)
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
