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
	// KnownServices are all services of the compose file, selected or not, enabled or not:
	// containers of any other service are orphans. Nil means the project's services.
	KnownServices []string
	// Timeout is -t for stopping replaced or removed containers.
	Timeout *time.Duration
}

// Up plans `up`: pulls of missing images, missing networks and volumes, and for each service the
// containers to create, recreate, start, keep or remove, in dependency order.
func Up(p *project.Project, obs Observed, opts UpOptions) (*Plan, error) {
	g := ServiceGraph(p)
	if err := g.CheckCycle(); err != nil {
		return nil, err
	}
	if opts.ForceRecreate && opts.NoRecreate {
		return nil, fmt.Errorf("--force-recreate and --no-recreate are incompatible")
	}
	for svc, n := range opts.Scale {
		s, err := p.GetService(svc)
		if err != nil {
			return nil, fmt.Errorf("--scale %s=%d: no such service %q", svc, n, svc)
		}
		if n > 1 && s.ContainerName != "" {
			return nil, fmt.Errorf("--scale %s=%d: services.%s has container_name %q, which must be unique: remove it to scale",
				svc, n, svc, s.ContainerName)
		}
		if n < 0 {
			return nil, fmt.Errorf("--scale %s=%d: the number of replicas cannot be negative", svc, n)
		}
	}
	plan := &Plan{}
	if err := planImages(p, obs, opts, plan); err != nil {
		return nil, err
	}
	if err := planNetworks(p, obs, plan); err != nil {
		return nil, err
	}
	if err := planVolumes(p, obs, plan); err != nil {
		return nil, err
	}
	levels, err := g.Levels()
	if err != nil {
		return nil, err
	}
	containerSteps := map[string][]string{} // service -> its container step IDs
	recreated := map[string]bool{}          // services with a recreated container
	for _, level := range levels {
		for _, name := range level {
			s, err := p.GetService(name)
			if err != nil {
				continue // a dependency outside the selection
			}
			ids, rec, err := planService(p, s, obs, opts, plan, containerSteps, recreated)
			if err != nil {
				return nil, err
			}
			containerSteps[name] = ids
			recreated[name] = rec
		}
	}
	planOrphans(p, obs, opts, plan)
	return plan, nil
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
		ds = append(ds, parents(s)...)
		deps[name] = unique(ds)
	}
	return NewGraph(deps)
}

// parents are the services whose container s shares a namespace or volumes with.
func parents(s types.ServiceConfig) []string {
	var ps []string
	for _, mode := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if strings.HasPrefix(mode, "service:") {
			ps = append(ps, strings.TrimPrefix(mode, "service:"))
		}
	}
	for _, vf := range s.VolumesFrom {
		if !strings.HasPrefix(vf, "container:") {
			ref, _, _ := strings.Cut(vf, ":")
			ps = append(ps, ref)
		}
	}
	return ps
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
				spec := project.BuildSpec(s)
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
	return nil
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

// planService adds the steps of one service's containers and returns their IDs and whether any
// container of the service is recreated.
func planService(p *project.Project, s types.ServiceConfig, obs Observed, opts UpOptions, plan *Plan,
	containerSteps map[string][]string, recreated map[string]bool) ([]string, bool, error) {

	want := s.GetScale()
	if n, ok := opts.Scale[s.Name]; ok {
		want = n
	}
	hash, err := project.ConfigHash(s)
	if err != nil {
		return nil, false, err
	}
	imageID := obs.Images[s.Image]

	// What the new containers wait for: their networks, volumes, image, and the containers of
	// the services they depend on.
	var after []string
	if st := plan.Step(KindImage + ":" + s.Image); st != nil {
		after = append(after, st.ID)
	}
	for key := range s.Networks {
		if st := plan.Step(KindNetwork + ":" + p.NetworkName(key)); st != nil {
			after = append(after, st.ID)
		}
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			if st := plan.Step(KindVolume + ":" + p.VolumeName(v.Source)); st != nil {
				after = append(after, st.ID)
			}
		}
	}
	deps := append(sortedKeys(s.DependsOn), parents(s)...)
	parentRecreated := ""
	for _, d := range unique(deps) {
		after = append(after, containerSteps[d]...)
	}
	for _, d := range parents(s) {
		if recreated[d] {
			parentRecreated = d
		}
	}
	// depends_on restart: true restarts the dependent when its dependency is recreated.
	restartFor := ""
	for _, d := range sortedKeys(s.DependsOn) {
		if s.DependsOn[d].Restart && recreated[d] {
			restartFor = d
			break
		}
	}
	var waits []Wait
	for _, d := range sortedKeys(s.DependsOn) {
		if _, err := p.GetService(d); err != nil {
			continue // not selected (--no-deps) or not required
		}
		dep := s.DependsOn[d]
		waits = append(waits, Wait{Service: d, Condition: dep.Condition, Required: dep.Required})
	}

	// The service's existing containers; out-of-date ones are removed first when scaling
	// down, then the highest numbers, as Compose does.
	var existing []runtime.Container
	for _, c := range obs.Containers {
		if c.Labels[runtime.LabelService] == s.Name && c.Labels[runtime.LabelOneoff] != "True" {
			existing = append(existing, c)
		}
	}
	upToDate := func(c runtime.Container) bool {
		return c.Labels[runtime.LabelConfigHash] == hash && (imageID == "" || c.ImageID == imageID)
	}
	sort.SliceStable(existing, func(i, j int) bool {
		ui, uj := upToDate(existing[i]), upToDate(existing[j])
		if ui != uj {
			return ui
		}
		return number(existing[i]) < number(existing[j])
	})

	var ids []string
	anyRecreated := false
	maxNumber := 0
	for _, c := range existing {
		if n := number(c); n > maxNumber {
			maxNumber = n
		}
	}
	for i := range existing {
		c := existing[i]
		if i >= want {
			plan.add(&Step{Action: RemoveContainer, Kind: KindContainer, Name: c.Name, Service: s.Name,
				Number: number(c), Container: &c, Timeout: opts.Timeout,
				Reason: fmt.Sprintf("scaled down to %d", want)})
			continue
		}
		reason := recreateReason(p, s, c, hash, imageID, parentRecreated, opts)
		n := number(c)
		switch {
		case reason != "":
			spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: n, ImageID: imageID, Replace: c.Name})
			if err != nil {
				return nil, false, err
			}
			st := plan.add(&Step{Action: RecreateContainer, Kind: KindContainer, Name: c.Name, Service: s.Name,
				Number: n, Container: &c, Spec: &spec, Start: !opts.NoStart, Waits: waits, After: after,
				Timeout: opts.Timeout, Reason: reason})
			ids = append(ids, st.ID)
			anyRecreated = true
		case c.State != runtime.StateRunning && c.State != runtime.StateRestarting && !opts.NoStart:
			st := plan.add(&Step{Action: StartContainer, Kind: KindContainer, Name: c.Name, Service: s.Name,
				Number: n, Container: &c, Start: true, Waits: waits, After: after, Reason: "container " + c.State})
			ids = append(ids, st.ID)
		case restartFor != "" && !opts.NoStart:
			st := plan.add(&Step{Action: RestartContainer, Kind: KindContainer, Name: c.Name, Service: s.Name,
				Number: n, Container: &c, Start: true, Waits: waits, After: after, Timeout: opts.Timeout,
				Reason: "dependency " + restartFor + " recreated"})
			ids = append(ids, st.ID)
		default:
			st := plan.add(&Step{Action: KeepContainer, Kind: KindContainer, Name: c.Name, Service: s.Name,
				Number: n, Container: &c, Waits: waits, After: after, Reason: "up to date"})
			ids = append(ids, st.ID)
		}
	}
	for i := len(existing); i < want; i++ {
		maxNumber++
		spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: maxNumber, ImageID: imageID})
		if err != nil {
			return nil, false, err
		}
		st := plan.add(&Step{Action: CreateContainer, Kind: KindContainer, Name: spec.Name, Service: s.Name,
			Number: maxNumber, Spec: &spec, Start: !opts.NoStart, Waits: waits, After: after, Reason: "not found"})
		ids = append(ids, st.ID)
	}
	return ids, anyRecreated, nil
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
	known := map[string]bool{}
	if opts.KnownServices != nil {
		for _, s := range opts.KnownServices {
			known[s] = true
		}
	} else {
		for _, name := range p.AllServices {
			known[name] = true
		}
		for name := range p.Services {
			known[name] = true
		}
	}
	var orphans []string
	for i := range obs.Containers {
		c := obs.Containers[i]
		if known[c.Labels[runtime.LabelService]] || c.Labels[runtime.LabelOneoff] == "True" {
			continue
		}
		if opts.RemoveOrphans {
			plan.add(&Step{Action: RemoveContainer, Kind: KindContainer, Name: c.Name, Service: c.Labels[runtime.LabelService],
				Number: number(c), Container: &c, Timeout: opts.Timeout, Reason: "orphan"})
			continue
		}
		orphans = append(orphans, c.Name)
	}
	if len(orphans) > 0 && !opts.IgnoreOrphans {
		sort.Strings(orphans)
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("Found orphan containers ([%s]) for this project. If you removed or "+
			"renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
			strings.Join(orphans, " ")))
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
