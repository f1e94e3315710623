package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// Observed is what the runtime reports about a project.
type Observed struct {
	// Containers, Networks and Volumes carry the project's label.
	Containers []runtime.Container
	Networks   []runtime.Network
	Volumes    []runtime.Volume
	// ExternalNetworks and ExternalVolumes hold the names of external objects found to exist.
	ExternalNetworks map[string]bool
	ExternalVolumes  map[string]bool
	// Images maps an image reference to the ID of the local image; a missing key means the
	// image is not present locally.
	Images map[string]string
}

// UpOptions are the flags of `up` that change the plan.
type UpOptions struct {
	ForceRecreate bool
	NoRecreate    bool
	NoStart       bool
	RemoveOrphans bool
	IgnoreOrphans bool
	// Scale overrides the number of replicas per service.
	Scale map[string]int
	// Pull is the --pull policy: "" (the service's pull_policy), "missing", "always", "never".
	Pull string
	// Build builds every service that has a build: section (--build); NoBuild builds none
	// (--no-build). Otherwise a service with build: is built when its image is missing.
	Build, NoBuild bool
	// Timeout is -t for stopping replaced or removed containers.
	Timeout *time.Duration
	// Wait adds, for every container the plan starts or keeps, a step that waits for it to be
	// up (`up --wait`): running, healthy when it has a healthcheck, exited 0 when a dependent
	// waits for it to complete.
	Wait bool
	// Exclude leaves the containers of this service out of the plan: `run` makes a one-off
	// container of it instead, and leaves its replicas as they are.
	Exclude string
}

// Up plans `up`: pulls of missing images, missing networks and volumes, and for each service the
// containers to create, recreate, start, keep or remove, in dependency order.
func Up(p *project.Project, obs Observed, opts UpOptions) (*Plan, error) {
	plan, _, err := up(p, obs, opts)
	return plan, err
}

// up is Up, which also returns what it learnt of the services' containers.
func up(p *project.Project, obs Observed, opts UpOptions) (*Plan, *servicePlanner, error) {
	g := ServiceGraph(p)
	if err := g.CheckCycle(); err != nil {
		return nil, nil, err
	}
	if opts.ForceRecreate && opts.NoRecreate {
		return nil, nil, fmt.Errorf("--force-recreate and --no-recreate are incompatible")
	}
	for svc, n := range opts.Scale {
		s, err := p.GetService(svc)
		if err != nil {
			return nil, nil, fmt.Errorf("--scale %s=%d: no such service %q", svc, n, svc)
		}
		if n > 1 && s.ContainerName != "" {
			return nil, nil, fmt.Errorf("--scale %s=%d: services.%s has container_name %q, which must be unique: remove it to scale",
				svc, n, svc, s.ContainerName)
		}
		if n < 0 {
			return nil, nil, fmt.Errorf("--scale %s=%d: the number of replicas cannot be negative", svc, n)
		}
	}
	plan := &Plan{}
	if err := planImages(p, obs, opts, plan); err != nil {
		return nil, nil, err
	}
	if err := planNetworks(p, obs, plan); err != nil {
		return nil, nil, err
	}
	if err := planVolumes(p, obs, plan); err != nil {
		return nil, nil, err
	}
	levels, err := g.Levels()
	if err != nil {
		return nil, nil, err
	}
	sp := &servicePlanner{p: p, obs: obs, opts: opts, plan: plan,
		ready: map[string][]string{}, names: map[string][]string{}, recreated: map[string]bool{},
		completed: completedDependencies(p), byService: map[string][]runtime.Container{}}
	for _, c := range serviceContainers(obs.Containers) {
		svc := c.Labels[runtime.LabelService]
		sp.byService[svc] = append(sp.byService[svc], c)
	}
	for _, level := range levels {
		for _, name := range level {
			s, err := p.GetService(name)
			if err != nil || name == opts.Exclude {
				continue // a dependency outside the selection, or run's own service
			}
			if err := sp.service(s); err != nil {
				return nil, nil, err
			}
		}
	}
	planOrphans(p, obs, opts, plan)
	return plan, sp, nil
}

// ServiceGraph is the depends_on graph of the project's services, including the implicit
// dependencies of network_mode, ipc, pid and volumes_from on another service.
func ServiceGraph(p *project.Project) *Graph {
	deps := map[string][]string{}
	for name, s := range p.Services {
		var ds []string
		for d := range s.DependsOn {
			ds = append(ds, d)
		}
		ds = append(ds, project.Parents(s)...)
		deps[name] = unique(ds)
	}
	return NewGraph(deps)
}

func planImages(p *project.Project, obs Observed, opts UpOptions, plan *Plan) error {
	seen := map[string]bool{}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if seen[s.Image] {
			continue
		}
		seen[s.Image] = true
		policy := opts.Pull
		if policy == "" {
			policy = s.PullPolicy
		}
		_, present := obs.Images[s.Image]
		if s.Build != nil {
			build := opts.Build || !present || s.PullPolicy == types.PullPolicyBuild
			switch {
			case opts.NoBuild && !present:
				return fmt.Errorf("service %q: image %s is not built and --no-build was given: build it with `comp build %s`", name, s.Image, name)
			case opts.NoBuild || !build:
			default:
				spec, err := p.BuildSpec(s)
				if err != nil {
					return err
				}
				reason := "not built yet"
				if present {
					reason = "--build"
				}
				plan.add(&Step{Action: BuildImage, Kind: KindImage, Name: s.Image, Service: name, Build: &spec, Reason: reason})
			}
			continue
		}
		switch policy {
		case types.PullPolicyNever:
			if !present {
				return fmt.Errorf("service %q: image %s is not present locally and the pull policy is never: pull it with `comp pull %s`",
					name, s.Image, name)
			}
		case types.PullPolicyAlways:
			plan.add(&Step{Action: PullImage, Kind: KindImage, Name: s.Image, Reason: "pull policy always"})
		default:
			if !present {
				plan.add(&Step{Action: PullImage, Kind: KindImage, Name: s.Image, Reason: "not present locally"})
			}
		}
	}
	return orderBuilds(p, plan)
}

func planNetworks(p *project.Project, obs Observed, plan *Plan) error {
	for _, key := range sortedKeys(p.Networks) {
		n := p.Networks[key]
		name := p.NetworkName(key)
		if n.External {
			if !obs.ExternalNetworks[name] {
				return fmt.Errorf("network %s declared as external, but could not be found: create it first (networks.%s.external)", name, key)
			}
			continue
		}
		if findNetwork(obs.Networks, name) != nil {
			continue
		}
		spec := p.NetworkSpec(key)
		plan.add(&Step{Action: CreateNetwork, Kind: KindNetwork, Name: name, Reason: "not found", NetworkSpec: &spec})
	}
	return nil
}

func planVolumes(p *project.Project, obs Observed, plan *Plan) error {
	for _, key := range sortedKeys(p.Volumes) {
		v := p.Volumes[key]
		name := p.VolumeName(key)
		if v.External {
			if !obs.ExternalVolumes[name] {
				return fmt.Errorf("external volume %q not found: create it first (volumes.%s.external)", name, key)
			}
			continue
		}
		if findVolume(obs.Volumes, name) != nil {
			continue
		}
		spec := p.VolumeSpec(key)
		plan.add(&Step{Action: CreateVolume, Kind: KindVolume, Name: name, Reason: "not found", VolumeSpec: &spec})
	}
	return nil
}

func findNetwork(ns []runtime.Network, name string) *runtime.Network {
	for i := range ns {
		if ns[i].Name == name {
			return &ns[i]
		}
	}
	return nil
}

func findVolume(vs []runtime.Volume, name string) *runtime.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

// servicePlanner adds the steps of the services' containers, one service at a time,
// dependencies first.
type servicePlanner struct {
	p    *project.Project
	obs  Observed
	opts UpOptions
	plan *Plan
	// ready holds, per service, the steps after which its containers are up (started, kept,
	// restarted; created with --no-start): what its dependents wait for.
	ready map[string][]string
	// names holds, per service, the names of those containers, whose conditions the
	// dependents wait on.
	names map[string][]string
	// recreated says which services have a container recreated.
	recreated map[string]bool
	// completed are the services that a dependent waits on to complete successfully.
	completed map[string]bool
	// byService holds the observed containers of each service, one-offs left out: looked up
	// once per service, so that planning stays linear in the number of containers.
	byService map[string][]runtime.Container
}

// service adds the steps of service s's containers.
func (sp *servicePlanner) service(s types.ServiceConfig) error {
	p, obs, opts, plan := sp.p, sp.obs, sp.opts, sp.plan
	want := s.GetScale()
	if n, ok := opts.Scale[s.Name]; ok {
		want = n
	}
	hash, err := project.ConfigHash(s)
	if err != nil {
		return err
	}
	imageID := obs.Images[s.Image]
	// The secrets and configs, read once: a changed content recreates, as a changed hash does.
	files, err := p.ContainerFiles(s)
	if err != nil {
		return err
	}
	filesChanged := func(c runtime.Container) []string { return project.ChangedFiles(c.Labels, p.Name, s.Name, files) }

	// What a new container's creation waits for: its image, networks and volumes.
	var created []string
	for _, action := range []Action{PullImage, BuildImage} {
		if st := plan.Find(KindImage, s.Image, action); st != nil {
			created = append(created, st.ID)
		}
	}
	for key := range s.Networks {
		if st := plan.Find(KindNetwork, p.NetworkName(key), CreateNetwork); st != nil {
			created = append(created, st.ID)
		}
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			if st := plan.Find(KindVolume, p.VolumeName(v.Source), CreateVolume); st != nil {
				created = append(created, st.ID)
			}
		}
	}
	sort.Strings(created)
	// What its start waits for: the containers of the services it depends on (whose
	// conditions are its waits).
	var started []string
	for _, d := range unique(append(sortedKeys(s.DependsOn), project.Parents(s)...)) {
		started = append(started, sp.ready[d]...)
	}
	parentRecreated := ""
	for _, d := range project.Parents(s) {
		if sp.recreated[d] {
			parentRecreated = d
		}
	}
	// depends_on restart: true restarts the dependent when its dependency is recreated.
	restartFor := ""
	for _, d := range sortedKeys(s.DependsOn) {
		if s.DependsOn[d].Restart && sp.recreated[d] {
			restartFor = d
			break
		}
	}
	waits := sp.dependencyWaits(s)

	// The service's existing containers; out-of-date ones are removed first when scaling
	// down, then the highest numbers, as Compose does.
	existing := append([]runtime.Container(nil), sp.byService[s.Name]...)
	upToDate := func(c runtime.Container) bool {
		return c.Labels[runtime.LabelConfigHash] == hash && (imageID == "" || c.ImageID == imageID) && len(filesChanged(c)) == 0
	}
	sort.SliceStable(existing, func(i, j int) bool {
		ui, uj := upToDate(existing[i]), upToDate(existing[j])
		if ui != uj {
			return ui
		}
		return number(existing[i]) < number(existing[j])
	})

	maxNumber := 0
	for _, c := range existing {
		if n := number(c); n > maxNumber {
			maxNumber = n
		}
	}
	after := append(append([]string(nil), created...), started...)
	for i := range existing {
		c := existing[i]
		if i >= want {
			removeContainer(plan, c, opts.Timeout, nil, fmt.Sprintf("scaled down to %d", want))
			continue
		}
		reason := recreateReason(p, s, c, hash, imageID, parentRecreated, opts)
		if changed := filesChanged(c); reason == "" && len(changed) > 0 && !opts.NoRecreate {
			reason = strings.Join(changed, ", ") + " changed"
		}
		n := number(c)
		switch {
		case reason != "":
			spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: n, ImageID: imageID, Replace: c.Name})
			if err != nil {
				return err
			}
			sp.recreate(s, c, &spec, after, waits, reason)
			sp.recreated[s.Name] = true
		case !active(c) && !opts.NoStart:
			st := plan.add(containerStep(StartContainer, c, "container "+c.State))
			st.After, st.Waits = after, waits
			sp.up(s, c.Name, st)
		case restartFor != "" && !opts.NoStart:
			st := plan.add(containerStep(RestartContainer, c, "dependency "+restartFor+" recreated"))
			st.After, st.Waits, st.Timeout = after, waits, opts.Timeout
			sp.up(s, c.Name, st)
		default:
			st := plan.add(containerStep(KeepContainer, c, "up to date"))
			st.After = after
			sp.up(s, c.Name, st)
		}
	}
	for i := len(existing); i < want; i++ {
		maxNumber++
		spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: maxNumber, ImageID: imageID})
		if err != nil {
			return err
		}
		create := plan.add(&Step{Action: CreateContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
			Number: maxNumber, Spec: &spec, After: created, Reason: "not found"})
		// A container whose configuration names another container (network_mode, ipc or
		// pid container:, volumes_from, links) is created once that one runs, as the engine
		// resolves the name at creation. Any other is created ahead, while its dependencies
		// start, and only its start waits for them: Docker Compose too creates every
		// container before it starts them in dependency order.
		if len(spec.References()) > 0 || len(spec.Links) > 0 || opts.NoStart {
			create.After = after
		}
		if opts.NoStart {
			sp.up(s, spec.Name, create)
			continue
		}
		st := plan.add(&Step{Action: StartContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
			Number: maxNumber, After: append([]string{create.ID}, started...), Waits: waits, Reason: "created"})
		sp.up(s, spec.Name, st)
	}
	return nil
}

// recreate replaces container c of service s with a new one of spec, as named steps: stop
// the old one, rename it out of the way, create the new one under its name, start it, then
// remove the old one. A failure half-way leaves the old container, stopped under a temporary
// name and with its anonymous volumes, which the next `up` removes once a new one is there.
func (sp *servicePlanner) recreate(s types.ServiceConfig, c runtime.Container, spec *runtime.ContainerSpec, after []string, waits []Wait, reason string) {
	plan, opts := sp.plan, sp.opts
	stop := plan.add(containerStep(StopContainer, c, reason))
	stop.After, stop.Timeout, stop.Recreating = after, opts.Timeout, true
	prev := stop.ID
	old := c
	if c.Name == spec.Name {
		// Docker Compose's temporary name: <short ID>_<name>.
		old.Name = shortID(c.ID) + "_" + c.Name
		rename := plan.add(containerStep(RenameContainer, c, reason))
		rename.NewName, rename.After, rename.Recreating = old.Name, []string{prev}, true
		prev = rename.ID
	}
	create := plan.add(&Step{Action: CreateContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
		Number: number(c), Spec: spec, After: []string{prev}, Reason: reason, Recreating: true})
	ready := create
	if !opts.NoStart {
		ready = plan.add(&Step{Action: StartContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
			Number: create.Number, After: []string{create.ID}, Waits: waits, Reason: "recreated"})
	}
	remove := plan.add(containerStep(RemoveContainer, old, reason))
	remove.After, remove.Recreating, remove.Force = []string{ready.ID}, true, true
	sp.up(s, spec.Name, ready)
}

// up records that container name of service s is up once step st is done, and with --wait
// adds the step that waits for its goal.
func (sp *servicePlanner) up(s types.ServiceConfig, name string, st *Step) {
	sp.ready[s.Name] = append(sp.ready[s.Name], st.ID)
	sp.names[s.Name] = append(sp.names[s.Name], name)
	if !sp.opts.Wait {
		return
	}
	goal := ConditionUp
	if sp.completed[s.Name] {
		goal = types.ServiceConditionCompletedSuccessfully
	}
	sp.plan.add(&Step{Action: AwaitContainer, Kind: KindContainer, Name: name, Service: s.Name, Number: st.Number,
		After: []string{st.ID}, Waits: []Wait{{Service: s.Name, Condition: goal, Required: true, Containers: []string{name}, Goal: true}}})
}

// dependencyWaits are the depends_on conditions of s on the selected services, each on the
// containers of that service the plan keeps or starts.
func (sp *servicePlanner) dependencyWaits(s types.ServiceConfig) []Wait {
	var waits []Wait
	for _, d := range sortedKeys(s.DependsOn) {
		if _, err := sp.p.GetService(d); err != nil || d == sp.opts.Exclude {
			continue // not selected (--no-deps) or not required
		}
		dep := s.DependsOn[d]
		waits = append(waits, Wait{Service: d, Condition: dep.Condition, Required: dep.Required,
			Containers: append([]string(nil), sp.names[d]...)})
	}
	return waits
}

// completedDependencies are the services of p that a dependent waits on with
// service_completed_successfully: one-shots, expected to have exited 0.
func completedDependencies(p *project.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[dep] = true
			}
		}
	}
	return out
}

// active tells a container that counts as running: running, paused or restarting, as the
// engine's "running" flag does.
func active(c runtime.Container) bool {
	switch c.State {
	case runtime.StateRunning, runtime.StatePaused, runtime.StateRestarting:
		return true
	}
	return false
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// recreateReason says why container c of service s must be recreated, or "" if it need not be.
func recreateReason(p *project.Project, s types.ServiceConfig, c runtime.Container, hash, imageID, parentRecreated string, opts UpOptions) string {
	if opts.NoRecreate {
		return ""
	}
	if opts.ForceRecreate {
		return "forced by --force-recreate"
	}
	if old := c.Labels[runtime.LabelConfigHash]; old != hash {
		fields, _ := project.FieldDigests(s)
		if changed := project.ChangedFields(c.Labels[project.LabelConfigFields], fields); len(changed) > 0 && c.Labels[project.LabelConfigFields] != "" {
			return "config changed: " + strings.Join(changed, ", ")
		}
		return "config changed"
	}
	if imageID != "" && c.ImageID != "" && c.ImageID != imageID {
		return "image changed"
	}
	if parentRecreated != "" {
		return "parent " + parentRecreated + " recreated"
	}
	if s.NetworkMode == "" && c.Networks != nil {
		for key := range s.Networks {
			if _, ok := c.Networks[p.NetworkName(key)]; !ok {
				return "network " + p.NetworkName(key) + " not connected"
			}
		}
	}
	return ""
}

func planOrphans(p *project.Project, obs Observed, opts UpOptions, plan *Plan) {
	var orphans []string
	for _, c := range Orphans(p, obs.Containers) {
		if opts.RemoveOrphans {
			removeContainer(plan, c, opts.Timeout, nil, "orphan")
			continue
		}
		orphans = append(orphans, c.Name)
	}
	if len(orphans) > 0 && !opts.IgnoreOrphans {
		sort.Strings(orphans)
		plan.Warnings = append(plan.Warnings, orphanWarning(orphans))
	}
}

func number(c runtime.Container) int {
	n, _ := strconv.Atoi(c.Labels[runtime.LabelContainerNumber])
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func unique(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// orderBuilds makes each build wait for the images its additional contexts name with
// service:NAME (that service's build or pull), and refuses builds that wait for each other.
func orderBuilds(p *project.Project, plan *Plan) error {
	for _, st := range plan.Steps {
		if st.Action != BuildImage {
			continue
		}
		for _, dep := range project.ContextServices(p.Services[st.Service]) {
			for _, action := range []Action{BuildImage, PullImage} {
				if d := plan.Find(KindImage, p.Services[dep].Image, action); d != nil && d != st {
					st.After = append(st.After, d.ID)
				}
			}
		}
	}
	// A cycle would wait forever: find one among the builds.
	const (
		visiting = 1
		done     = 2
	)
	marks := map[string]int{}
	var visit func(st *Step) error
	visit = func(st *Step) error {
		switch marks[st.ID] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("service %q: build.additional_contexts: its build and another's each need the other's image (service:NAME)", st.Service)
		}
		marks[st.ID] = visiting
		for _, id := range st.After {
			if d := plan.Step(id); d != nil && d.Action == BuildImage {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		marks[st.ID] = done
		return nil
	}
	for _, st := range plan.Steps {
		if st.Action == BuildImage {
			if err := visit(st); err != nil {
				return err
			}
		}
	}
	return nil
}
