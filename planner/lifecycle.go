package planner

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// The plans of the commands that act on a project's existing containers: start, stop,
// restart, kill, rm. Each takes the containers the runtime reports (one-off containers are
// left out unless said) and the services named on the command line (none: every service).

// Start plans `start`: the stopped containers of services and of the services they depend on
// are started, dependencies first, each once the conditions it puts on them hold (as `up`
// waits); running ones are kept, so that their dependents' conditions can see them. It
// creates nothing. p, when the compose file is at hand, gives the dependency graph and says
// which services must have a container; without it the graph comes from the labels.
func Start(p *project.Project, obs Observed, services []string) (*Plan, error) {
	cs := serviceContainers(obs.Containers)
	graph := LabelGraph(cs)
	if p != nil {
		graph = ServiceGraph(p)
	}
	selected := WithDependencies(graph, services)
	cs = inServices(cs, selected)
	if p != nil {
		for _, svc := range sortedKeys(selected) {
			s, ok := p.Services[svc]
			if !ok || s.GetScale() == 0 {
				continue
			}
			if len(Select(cs, []string{svc})) == 0 {
				return nil, fmt.Errorf("service %q has no container to start", svc)
			}
		}
	}
	if len(cs) == 0 {
		return nil, errors.New("no containers to start")
	}
	if err := LabelGraph(cs).CheckCycle(); err != nil {
		return nil, err
	}
	plan := &Plan{}
	byService := containerSteps(cs, func(c runtime.Container) Action {
		if active(c) {
			return KeepContainer
		}
		return StartContainer
	})
	for _, c := range sortByName(cs) {
		action, reason := StartContainer, "container "+c.State
		if active(c) {
			action, reason = KeepContainer, "running"
		}
		st := plan.add(containerStep(action, c, reason))
		if action == StartContainer {
			st.After, st.Waits = labelWaits(c, cs, byService)
		}
	}
	return plan, nil
}

// Stop plans `stop`: the running containers of services stopped, dependents before their
// dependencies.
func Stop(obs Observed, services []string, timeout *time.Duration) *Plan {
	plan := &Plan{}
	stopInOrder(plan, Select(serviceContainers(obs.Containers), services), timeout, "")
	return plan
}

// Restart plans `restart`: the containers of services (every one, stopped ones too) restarted,
// each after the restarts of the services it depends on and once the conditions it puts on
// them hold. Naming services also restarts the services that depend on them with
// `restart: true`, unless noDeps.
func Restart(obs Observed, services []string, noDeps bool, timeout *time.Duration) (*Plan, error) {
	cs := serviceContainers(obs.Containers)
	if err := LabelGraph(cs).CheckCycle(); err != nil {
		return nil, err
	}
	selected := map[string]bool{}
	for _, s := range services {
		selected[s] = true
	}
	if len(services) == 0 {
		selected = WithDependencies(LabelGraph(cs), nil)
	} else if !noDeps {
		for s := range restartDependents(cs, services) {
			selected[s] = true
		}
	}
	targets := inServices(cs, selected)
	byService := containerSteps(targets, func(runtime.Container) Action { return RestartContainer })
	plan := &Plan{}
	for _, c := range sortByName(targets) {
		st := plan.add(containerStep(RestartContainer, c, ""))
		st.Timeout = timeout
		st.After, st.Waits = labelWaits(c, cs, byService)
	}
	return plan, nil
}

// Kill plans `kill`: signal sent to the running containers of services.
func Kill(obs Observed, services []string, signal string) *Plan {
	plan := &Plan{}
	for _, c := range sortByName(Select(serviceContainers(obs.Containers), services)) {
		if active(c) {
			st := plan.add(containerStep(KillContainer, c, ""))
			st.Signal = signal
		}
	}
	return plan
}

// labelWaits are what c's step waits for, from its depends_on label: the steps of the
// containers of its dependencies (byService) and their conditions, on every container of
// each dependency in cs.
func labelWaits(c runtime.Container, cs []runtime.Container, byService map[string][]string) ([]string, []Wait) {
	var after []string
	var waits []Wait
	for _, d := range Dependencies(c) {
		after = append(after, byService[d.Service]...)
		names := containerNames(Select(cs, []string{d.Service}))
		if len(names) > 0 {
			waits = append(waits, Wait{Service: d.Service, Condition: d.Condition, Required: true, Containers: names})
		}
	}
	return after, waits
}

// containerSteps are the IDs of the steps (of the action each container gets) by service.
func containerSteps(cs []runtime.Container, action func(runtime.Container) Action) map[string][]string {
	out := map[string][]string{}
	for _, c := range sortByName(cs) {
		svc := c.Labels[runtime.LabelService]
		out[svc] = append(out[svc], StepID(KindContainer, c.Name, action(c)))
	}
	return out
}

// restartDependents are the services that depend, directly or not, on one of services with
// `restart: true`: restarting a service restarts them too.
func restartDependents(cs []runtime.Container, services []string) map[string]bool {
	out := map[string]bool{}
	queue := append([]string(nil), services...)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, c := range cs {
			svc := c.Labels[runtime.LabelService]
			for _, d := range Dependencies(c) {
				if d.Service == s && d.Restart && !out[svc] {
					out[svc] = true
					queue = append(queue, svc)
				}
			}
		}
	}
	return out
}

// Select keeps the containers of the given services (all when none are given).
func Select(cs []runtime.Container, services []string) []runtime.Container {
	if len(services) == 0 {
		return cs
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	return inServices(cs, want)
}

// WithDependencies returns services and, transitively, the services they depend on in g. An
// empty services means every service of g.
func WithDependencies(g *Graph, services []string) map[string]bool {
	out := map[string]bool{}
	if len(services) == 0 {
		for _, s := range g.Nodes() {
			out[s] = true
		}
		return out
	}
	var walk func(string)
	walk = func(s string) {
		if out[s] {
			return
		}
		out[s] = true
		for _, d := range g.Deps[s] {
			walk(d)
		}
	}
	for _, s := range services {
		walk(s)
	}
	return out
}

// inServices keeps the containers whose service is in set.
func inServices(cs []runtime.Container, set map[string]bool) []runtime.Container {
	var out []runtime.Container
	for _, c := range cs {
		if set[c.Labels[runtime.LabelService]] {
			out = append(out, c)
		}
	}
	return out
}

// serviceContainers leaves out the one-off containers of `run`.
func serviceContainers(cs []runtime.Container) []runtime.Container {
	var out []runtime.Container
	for _, c := range cs {
		if c.Labels[runtime.LabelOneoff] != "True" {
			out = append(out, c)
		}
	}
	return out
}

func sortByName(cs []runtime.Container) []runtime.Container {
	out := append([]runtime.Container(nil), cs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func containerNames(cs []runtime.Container) []string {
	var out []string
	for _, c := range sortByName(cs) {
		out = append(out, c.Name)
	}
	return out
}

// RunOptions are what `run` plans besides the project.
type RunOptions struct {
	// Service is the service the one-off container runs; Oneoff is its spec.
	Service string
	Oneoff  runtime.ContainerSpec
	// RemoveOrphans and IgnoreOrphans are as for `up`.
	RemoveOrphans, IgnoreOrphans bool
}

// Run plans `run`: what `up` would do for the service's dependencies (the service's own
// replicas are left as they are), then the one-off container created once they are up and
// its depends_on conditions hold, and started. Its create and start are Quiet: progress is
// about the dependencies; the one-off's output is the command's own.
func Run(p *project.Project, obs Observed, opts RunOptions) (*Plan, error) {
	s, err := p.GetService(opts.Service)
	if err != nil {
		return nil, fmt.Errorf("no such service: %s", opts.Service)
	}
	plan, sp, err := up(p, obs, UpOptions{RemoveOrphans: opts.RemoveOrphans, IgnoreOrphans: opts.IgnoreOrphans, Exclude: s.Name})
	if err != nil {
		return nil, err
	}
	spec := opts.Oneoff
	spec.Labels = maps.Clone(spec.Labels)
	if id := obs.Images[s.Image]; id != "" && spec.Labels[runtime.LabelImage] == "" {
		spec.Labels[runtime.LabelImage] = id
	}
	var after []string
	for _, st := range plan.Steps {
		after = append(after, st.ID)
	}
	create := plan.add(&Step{Action: CreateContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
		Number: 1, Spec: &spec, After: after, Waits: sp.dependencyWaits(s), Quiet: true, Reason: "one-off"})
	plan.add(&Step{Action: StartContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name, Number: 1,
		After: []string{create.ID}, Quiet: true, Reason: "one-off"})
	return plan, nil
}

// PullOptions are the flags of `pull`.
type PullOptions struct {
	// Policy overrides the services' pull_policy: "missing" or "always".
	Policy string
	// IgnoreBuildable skips the images of services with a build: section.
	IgnoreBuildable bool
	// IgnoreFailures makes a failed pull a warning.
	IgnoreFailures bool
}

// Pull plans `pull`: each image of p's services once (for the first service, by name, that
// uses it), or a SkipImage step saying why it is not pulled: no image (build only),
// pull_policy never or build, already present with policy missing, or buildable with
// IgnoreBuildable.
func Pull(p *project.Project, obs Observed, opts PullOptions) *Plan {
	plan := &Plan{}
	seen := map[string]bool{}
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if s.Image == "" || seen[s.Image] {
			continue
		}
		seen[s.Image] = true
		policy := s.PullPolicy
		if opts.Policy != "" {
			policy = opts.Policy
		}
		skip := ""
		switch _, present := obs.Images[s.Image]; {
		case policy == types.PullPolicyNever || policy == types.PullPolicyBuild:
			skip = "Skipped"
		case s.Build != nil && opts.IgnoreBuildable:
			skip = "Skipped - Image can be built"
		case (policy == types.PullPolicyMissing || policy == types.PullPolicyIfNotPresent) && present:
			skip = "Skipped - Image is already present locally"
		}
		if skip != "" {
			plan.add(&Step{Action: SkipImage, Kind: KindImage, Name: s.Image, Service: name, Reason: skip})
			continue
		}
		plan.add(&Step{Action: PullImage, Kind: KindImage, Name: s.Image, Service: name, Optional: opts.IgnoreFailures})
	}
	return plan
}

// BuildOptions are the flags of `build`.
type BuildOptions struct {
	NoCache, Pull bool
	// Args are --build-arg values, over the services' own.
	Args map[string]*string
}

// Build plans `build`: the image of every service of p with a build: section, side by side.
// A build: section a builder cannot be given (a build secret without a source) is an error.
func Build(p *project.Project, opts BuildOptions) (*Plan, error) {
	plan := &Plan{}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		spec, err := p.BuildSpec(s)
		if err != nil {
			return nil, err
		}
		spec.NoCache = spec.NoCache || opts.NoCache
		spec.Pull = spec.Pull || opts.Pull
		for k, v := range opts.Args {
			if spec.Args == nil {
				spec.Args = map[string]*string{}
			}
			spec.Args[k] = v
		}
		plan.add(&Step{Action: BuildImage, Kind: KindImage, Name: s.Image, Service: name, Build: &spec})
	}
	if err := orderBuilds(p, plan); err != nil {
		return nil, err
	}
	return plan, nil
}
