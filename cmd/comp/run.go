package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mattn/go-shellwords"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

// labelSlug is the random ID of a one-off container; its first 12 hex digits end its name.
const labelSlug = "com.docker.compose.slug"

type runOptions struct {
	rm            bool
	detach        bool
	noTTY         bool
	interactive   bool
	noDeps        bool
	servicePorts  bool
	useAliases    bool
	removeOrphans bool
	env           []string
	labels        []string
	publish       []string
	volumes       []string
	capAdd        []string
	capDrop       []string
	user          string
	workdir       string
	name          string
	entrypoint    string
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), g, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container when it exits")
	f.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print its name")
	f.BoolVarP(&o.noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	f.BoolVar(&o.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVarP(&o.servicePorts, "service-ports", "P", false, "Run command with all service's ports enabled and mapped to the host")
	f.BoolVar(&o.useAliases, "use-aliases", false, "Use the service's network useAliases in the network(s) the container connects to")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "Add or override a label")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	f.StringSliceVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringSliceVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.StringVarP(&o.user, "user", "u", "", "Run as specified username or uid")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	return cmd
}

// runRun brings the service's dependencies up, then creates a one-off container of service
// running command, attaches to it and ends with its exit status (or, detached, prints its name).
func runRun(ctx context.Context, g *globalOptions, o *runOptions, service string, command []string) error {
	if o.servicePorts && len(o.publish) > 0 {
		return errors.New("--service-ports and --publish are incompatible")
	}
	if o.rm && o.detach {
		return errors.New("--rm and --detach cannot be combined: a detached one-off container is removed with `comp rm` or `comp down`")
	}
	p, err := loadForRun(ctx, g, service, o.noDeps)
	if err != nil {
		return err
	}
	s, err := p.GetService(service)
	if err != nil {
		return fmt.Errorf("no such service: %s", service)
	}
	slug, err := randomSlug()
	if err != nil {
		return err
	}
	spec, err := oneoffSpec(p, s, o, command, slug, g.streams.useTTY(o.noTTY))
	if err != nil {
		return err
	}

	rt, err := g.connect(ctx, p.Name)
	if err != nil {
		return err
	}
	defer rt.Close()
	removeOrphans, ignoreOrphans := orphanSettings(p)
	progress := g.newProgress("Running")
	applyOpts := reconcile.Options{Parallel: g.parallel, Progress: progress.Event}
	plan, err := reconcile.Prepare(ctx, rt, p, applyOpts, g.dryRun, func(obs planner.Observed, _ bool) (*planner.Plan, error) {
		return planner.Run(p, obs, planner.RunOptions{Service: s.Name, Oneoff: spec,
			RemoveOrphans: o.removeOrphans || removeOrphans, IgnoreOrphans: ignoreOrphans})
	})
	if err != nil {
		return err
	}
	if dryRun, err := g.ready(ctx, rt, plan, progress); err != nil || dryRun {
		return err
	}
	if o.detach {
		if _, err := reconcile.Apply(ctx, plan, rt, applyOpts); err != nil {
			return err
		}
		fmt.Fprintln(g.streams.Out, spec.Name)
		return nil
	}
	return attachOneoff(ctx, g, o, rt, plan, applyOpts, spec)
}

// loadForRun loads the project for `run SERVICE`. Naming a service enables its profiles, as
// Compose does: `run` of a tool service behind a profile needs no --profile.
func loadForRun(ctx context.Context, g *globalOptions, service string, noDeps bool) (*project.Project, error) {
	opts := g.projectOptions([]string{service})
	opts.NoDeps = noDeps
	p, err := project.Load(ctx, opts)
	if err == nil {
		return p, nil
	}
	all := opts
	all.Profiles = []string{"*"}
	everything, aerr := project.Load(ctx, all)
	if aerr != nil {
		return nil, err
	}
	s, serr := everything.GetService(service)
	if serr != nil || len(s.Profiles) == 0 {
		return nil, err
	}
	profiles := append([]string(nil), g.profiles...)
	if len(profiles) == 0 {
		for _, pr := range strings.Split(os.Getenv("COMPOSE_PROFILES"), ",") {
			if pr = strings.TrimSpace(pr); pr != "" {
				profiles = append(profiles, pr)
			}
		}
	}
	opts.Profiles = append(profiles, s.Profiles...)
	return project.Load(ctx, opts)
}

// oneoffSpec is the container spec of a `run` of service s: the service's own, with no restart
// policy, no published ports (unless --service-ports or -p), no network aliases (unless
// --use-aliases), and the command-line overrides.
func oneoffSpec(p *project.Project, s types.ServiceConfig, o *runOptions, command []string, slug string, tty bool) (runtime.ContainerSpec, error) {
	name := o.name
	if name == "" {
		name = project.OneoffName(p.Name, s.Name, slug[:12])
	}
	spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: 1, Oneoff: true, Name: name})
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	spec.Labels[labelSlug] = slug
	spec.Restart = runtime.RestartPolicy{Name: "no"}
	spec.Tty = tty
	spec.StdinOpen = o.interactive
	// Attached stdin that ends must end the container's stdin, not the attached output.
	spec.StdinOnce = o.interactive && !o.detach
	if len(command) > 0 {
		spec.Command = command
	}
	if o.entrypoint != "" {
		ep, err := shellwords.Parse(o.entrypoint)
		if err != nil {
			return runtime.ContainerSpec{}, fmt.Errorf("invalid --entrypoint %q: %w", o.entrypoint, err)
		}
		spec.Entrypoint = ep
		if len(command) == 0 {
			spec.Command = []string{}
		}
	}
	if o.user != "" {
		spec.User = o.user
	}
	if o.workdir != "" {
		spec.WorkingDir = o.workdir
	}
	spec.Env = mergeEnv(spec.Env, resolveEnv(o.env))
	for _, l := range o.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return runtime.ContainerSpec{}, fmt.Errorf("invalid --label %q: use KEY=VALUE", l)
		}
		spec.Labels[k] = v
	}
	if len(o.capAdd) > 0 {
		spec.CapAdd = append(spec.CapAdd, o.capAdd...)
		spec.CapDrop = without(spec.CapDrop, o.capAdd)
	}
	if len(o.capDrop) > 0 {
		spec.CapDrop = append(spec.CapDrop, o.capDrop...)
		spec.CapAdd = without(spec.CapAdd, o.capDrop)
	}
	if !o.servicePorts {
		spec.Ports = nil
	}
	for _, pub := range o.publish {
		ports, err := types.ParsePortConfig(pub)
		if err != nil {
			return runtime.ContainerSpec{}, fmt.Errorf("invalid --publish %q: %w", pub, err)
		}
		for _, port := range ports {
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			spec.Ports = append(spec.Ports, runtime.PortSpec{HostIP: port.HostIP, HostPort: port.Published,
				ContainerPort: uint16(port.Target), Protocol: proto})
		}
	}
	for _, v := range o.volumes {
		m, err := volumeMount(p, v)
		if err != nil {
			return runtime.ContainerSpec{}, err
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	if !o.useAliases {
		for i := range spec.Networks {
			spec.Networks[i].Aliases = nil
		}
	}
	return spec, nil
}

// volumeMount reads a -v value (NAME:/path, ./dir:/path[:ro], /path) into a mount: relative host
// paths are from the project folder, names of the project's volumes are its volumes.
func volumeMount(p *project.Project, v string) (runtime.Mount, error) {
	vol, err := format.ParseVolume(v)
	if err != nil {
		return runtime.Mount{}, fmt.Errorf("invalid --volume %q: %w", v, err)
	}
	m := runtime.Mount{Type: vol.Type, Source: vol.Source, Target: vol.Target, ReadOnly: vol.ReadOnly}
	switch vol.Type {
	case types.VolumeTypeBind:
		src := vol.Source
		if strings.HasPrefix(src, "~") {
			if home, err := os.UserHomeDir(); err == nil {
				src = filepath.Join(home, strings.TrimPrefix(src, "~"))
			}
		}
		if !filepath.IsAbs(src) {
			src = filepath.Join(p.WorkingDir, src)
		}
		m.Source = src
		m.CreateHostPath = true
	case types.VolumeTypeVolume:
		if _, ok := p.Volumes[vol.Source]; ok && vol.Source != "" {
			m.Source = p.VolumeName(vol.Source)
		}
	}
	return m, nil
}

// attachOneoff applies run's plan, attaching to the one-off container just before its start;
// then it forwards Ctrl-C and SIGTERM to the container, and ends with its exit status. With
// --rm it removes the container afterwards, whatever happened.
func attachOneoff(ctx context.Context, g *globalOptions, o *runOptions, rt runtime.Runtime, plan *planner.Plan,
	applyOpts reconcile.Options, spec runtime.ContainerSpec) (err error) {

	// The container's life is not tied to comp's signals: they are forwarded to it instead.
	runCtx := context.WithoutCancel(ctx)
	streams := runtime.AttachStreams{Stdout: g.streams.Out, Stderr: g.streams.Err, Tty: spec.Tty}
	if spec.Tty {
		streams.Stderr = nil
	}
	if o.interactive {
		streams.Stdin = g.streams.In
	}
	attachCtx, cancelAttach := context.WithCancel(runCtx)
	defer cancelAttach()
	var (
		id      string
		wait    func() error
		restore = func() {}
		sigs    = make(chan os.Signal, 2)
		done    = make(chan struct{})
	)
	defer close(done)
	defer signal.Stop(sigs)
	defer func() { restore() }()
	if o.rm {
		defer func() {
			if id != "" {
				err = errors.Join(err, removeOneoff(runCtx, g, rt, id))
			}
		}()
	}
	applyOpts.BeforeStart = func(_ context.Context, st *planner.Step, cid string) error {
		if st.Name != spec.Name {
			return nil
		}
		id = cid
		w, err := rt.Attach(attachCtx, cid, streams)
		if err != nil {
			return err
		}
		wait = w
		if spec.Tty {
			if restore, err = g.streams.RawInput(); err != nil {
				restore = func() {}
				return err
			}
		}
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go forwardSignals(runCtx, rt, cid, sigs, done)
		return nil
	}
	res, err := reconcile.Apply(ctx, plan, rt, applyOpts)
	if id == "" {
		id = res.Created[spec.Name]
	}
	if err != nil {
		cancelAttach()
		if wait != nil {
			_ = wait()
		}
		return err
	}
	if spec.Tty {
		defer followTerminalSize(runCtx, rt, id, g.streams)()
	}
	streamErr := wait()
	code, err := rt.WaitContainer(runCtx, id)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return streamErr
}

// removeOneoff removes run's one-off container id and its anonymous volumes (--rm).
func removeOneoff(ctx context.Context, g *globalOptions, rt runtime.Runtime, id string) error {
	c, err := rt.InspectContainer(ctx, id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	plan := planner.Remove([]runtime.Container{c}, planner.RemoveOptions{Force: true, Volumes: true})
	_, err = reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel})
	return err
}

// forwardSignals sends the signals comp receives to the container: the first as it is, a
// second as SIGKILL, as `docker run` does without a TTY.
func forwardSignals(ctx context.Context, rt runtime.Runtime, id string, sigs <-chan os.Signal, done <-chan struct{}) {
	received := 0
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			received++
			name := "SIGTERM"
			if sig == os.Interrupt {
				name = "SIGINT"
			}
			if received > 1 {
				name = "SIGKILL"
			}
			_ = rt.KillContainer(ctx, id, name)
		}
	}
}

// mergeEnv overrides base's KEY=VALUE entries with those of over, keeping base's order and
// appending new keys.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if k, _, _ := strings.Cut(old, "="); k == key {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func without(list, remove []string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, r := range remove {
			if strings.EqualFold(s, r) {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// randomSlug is 32 random bytes in hex, as Docker's random IDs.
func randomSlug() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a one-off container name: %w", err)
	}
	return hex.EncodeToString(b), nil
}
