package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/logs"
	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

type upOptions struct {
	detach        bool
	forceRecreate bool
	noRecreate    bool
	noDeps        bool
	removeOrphans bool
	noStart       bool
	build         bool
	noBuild       bool
	scale         []string
	pull          string
	timeout       int
	noColor       bool
	noLogPrefix   bool
	timestamps    bool

	// wait (--wait) waits for the services to be running or healthy, detached; waitTimeout
	// (--wait-timeout, seconds) bounds that.
	wait        bool
	waitTimeout int
	// Attached only: abortOnExit and abortOnFailure stop the project when a container exits
	// (with a failure); exitCodeFrom makes that service's exit code comp's; attach and noAttach
	// choose whose output is shown.
	abortOnExit    bool
	abortOnFailure bool
	exitCodeFrom   string
	attach         []string
	noAttach       []string
}

func newUpCmd(g *globalOptions) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: Run containers in the background")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	f.BoolVar(&o.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.BoolVar(&o.noStart, "no-start", false, "Don't start the services after creating them")
	f.BoolVar(&o.build, "build", false, "Build images before starting containers")
	f.BoolVar(&o.noBuild, "no-build", false, "Don't build an image, even if it's missing")
	f.StringArrayVar(&o.scale, "scale", nil, "Scale SERVICE to NUM instances (SERVICE=NUM)")
	f.StringVar(&o.pull, "pull", "policy", `Pull image before running ("always"|"missing"|"never")`)
	f.IntVarP(&o.timeout, "timeout", "t", -1, "Use this timeout in seconds for container shutdown when containers are already running")
	f.BoolVar(&o.noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	f.BoolVar(&o.timestamps, "timestamps", false, "Show timestamps")
	f.BoolVar(&o.wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	f.BoolVar(&o.abortOnExit, "abort-on-container-exit", false, "Stops all containers if any container was stopped. Incompatible with -d")
	f.BoolVar(&o.abortOnFailure, "abort-on-container-failure", false, "Stops all containers if any container exited with failure. Incompatible with -d")
	f.StringVar(&o.exitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container. Implies --abort-on-container-exit")
	f.StringArrayVar(&o.attach, "attach", nil, "Restrict attaching to the specified services")
	f.StringArrayVar(&o.noAttach, "no-attach", nil, "Do not attach (stream logs) to the specified services")
	return cmd
}

// validate checks the combinations of flags as Compose does, and applies what flags imply:
// --exit-code-from implies --abort-on-container-exit (unless --abort-on-container-failure),
// --wait implies -d.
func (o *upOptions) validate() error {
	if o.exitCodeFrom != "" && !o.abortOnFailure {
		o.abortOnExit = true
	}
	if o.abortOnExit && o.abortOnFailure {
		return errors.New("--abort-on-container-failure cannot be combined with --abort-on-container-exit")
	}
	if o.waitTimeout < 0 {
		return fmt.Errorf("invalid --wait-timeout %d: use a number of seconds", o.waitTimeout)
	}
	if o.wait {
		if o.abortOnExit || len(o.attach) > 0 {
			return errors.New("--wait cannot be combined with --abort-on-container-exit or --attach")
		}
		if o.noStart {
			return errors.New("--wait cannot be combined with --no-start")
		}
		o.detach = true
	}
	if o.detach && (o.abortOnExit || o.abortOnFailure || len(o.attach) > 0) {
		return errors.New("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure or --attach")
	}
	return nil
}

// attachedServices are the services whose output attached `up` shows, as Docker Compose
// picks them: --attach (each must be in the project; attach: false does not hold a named one
// back), else every service but those with attach: false; less --no-attach.
func attachedServices(p *project.Project, o *upOptions) ([]string, error) {
	var services []string
	if len(o.attach) > 0 {
		var unknown []string
		for _, s := range o.attach {
			if _, ok := p.Services[s]; !ok {
				unknown = append(unknown, s)
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("cannot attach to services not included in up: %s", strings.Join(unknown, ", "))
		}
		services = o.attach
	} else {
		for _, name := range p.ServiceNames() {
			if s := p.Services[name]; s.Attach == nil || *s.Attach {
				services = append(services, name)
			}
		}
	}
	var out []string
	for _, s := range services {
		if !slices.Contains(o.noAttach, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// timeoutFlag turns a -t value into a stop timeout; negative means the container's own.
func timeoutFlag(seconds int) *time.Duration {
	if seconds < 0 {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

func parseScale(flags []string) (map[string]int, error) {
	scale := map[string]int{}
	for _, s := range flags {
		name, num, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("invalid --scale %q: use SERVICE=NUM", s)
		}
		scale[name] = n
	}
	return scale, nil
}

func runUp(ctx context.Context, g *globalOptions, o *upOptions, services []string) error {
	if err := o.validate(); err != nil {
		return err
	}
	switch o.pull {
	case "policy":
		o.pull = ""
	case "", "always", "missing", "never":
	default:
		return fmt.Errorf("invalid --pull %q: use always, missing or never", o.pull)
	}
	if o.build && o.noBuild {
		return fmt.Errorf("--build and --no-build are incompatible")
	}
	scale, err := parseScale(o.scale)
	if err != nil {
		return err
	}
	opts := g.projectOptions(services)
	opts.NoDeps = o.noDeps
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	var attached []string
	if !o.detach && !o.noStart {
		if o.exitCodeFrom != "" {
			if _, err := p.GetService(o.exitCodeFrom); err != nil {
				return fmt.Errorf("--exit-code-from: no such service: %s (services: %s)", o.exitCodeFrom, strings.Join(p.ServiceNames(), ", "))
			}
		}
		if attached, err = attachedServices(p, o); err != nil {
			return err
		}
		if o.exitCodeFrom != "" && len(attached) > 0 && !slices.Contains(attached, o.exitCodeFrom) {
			return fmt.Errorf("--exit-code-from %s: the service is not attached", o.exitCodeFrom)
		}
	}
	rt, err := g.connect(ctx, p.Name)
	if err != nil {
		return err
	}
	defer rt.Close()
	unlock, err := rt.LockProject(ctx, p.Name)
	if err != nil {
		return err
	}
	defer unlock()

	removeOrphans, ignoreOrphans := orphanSettings(p)
	upOpts := planner.UpOptions{
		ForceRecreate: o.forceRecreate,
		NoRecreate:    o.noRecreate,
		NoStart:       o.noStart,
		Build:         o.build,
		NoBuild:       o.noBuild,
		RemoveOrphans: o.removeOrphans || removeOrphans,
		IgnoreOrphans: ignoreOrphans,
		Scale:         scale,
		Pull:          o.pull,
		Timeout:       timeoutFlag(o.timeout),
		Wait:          o.wait,
	}
	progress := g.newProgress("Running")
	applyOpts := reconcile.Options{Parallel: g.parallel, Progress: progress.Event}
	plan, err := reconcile.Prepare(ctx, rt, p, applyOpts, g.dryRun, func(obs planner.Observed, imagesReady bool) (*planner.Plan, error) {
		opts := upOpts
		if imagesReady {
			opts.Pull, opts.Build = "missing", false // pulled and built just now
		}
		return planner.Up(p, obs, opts)
	})
	if err != nil {
		return err
	}
	if dryRun, err := g.ready(ctx, rt, plan, progress); err != nil || dryRun {
		return err
	}
	if o.detach || o.noStart {
		timeout := time.Duration(o.waitTimeout) * time.Second
		if o.wait && timeout > 0 {
			applyOpts.Deadline = time.Now().Add(timeout)
		}
		_, err := reconcile.Apply(ctx, plan, rt, applyOpts)
		if o.wait && timeout > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("application not healthy after %s", timeout)
		}
		return err
	}
	return attachedUp(ctx, g, o, p, rt, plan, applyOpts, attached)
}

// attachedUp applies the plan while streaming the output of the attached services' containers,
// until they have all exited, the user presses Ctrl-C (once: stop gracefully; twice: kill), or
// an exit aborts the project (--abort-on-container-exit, --abort-on-container-failure,
// --exit-code-from). attached may be empty (every service --no-attach): exits are still watched.
func attachedUp(ctx context.Context, g *globalOptions, o *upOptions, p *project.Project, rt runtime.Runtime,
	plan *planner.Plan, applyOpts reconcile.Options, attached []string) error {

	out := g.streams.Out
	watched := attached
	if len(attached) == 0 {
		out, watched = io.Discard, p.ServiceNames()
	}
	printer := logs.NewPrinter(out, logs.Options{
		Color:      g.streams.ColorOut() && !o.noColor,
		Prefix:     !o.noLogPrefix,
		Timestamps: o.timestamps,
	})
	names := attachedNames(plan, attached)
	printer.Register(names...)
	exits := newExitPolicy(o)

	// On a runtime that can attach to the live output (Docker), attach to each attached
	// container just before it starts, as Docker Compose does: following its logs instead
	// makes the engine decode its log file again. The follower takes those streams over;
	// where attaching fails, it reads the logs.
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var attachedOut *logs.Attached
	if rt.Capabilities().AttachOutput && len(attached) > 0 {
		attachedOut = logs.NewAttached()
		applyOpts.BeforeStart = func(_ context.Context, st *planner.Step, id string) error {
			if slices.Contains(attached, st.Service) {
				if stream, err := rt.AttachOutput(followCtx, id); err == nil {
					attachedOut.Add(followCtx, id, stream)
				}
			}
			return nil
		}
	}
	if _, err := reconcile.Apply(ctx, plan, rt, applyOpts); err != nil {
		return err
	}
	// Follow once the containers exist: the follower then knows them all (it ends when all
	// have exited), and it prints every container's output from its start, so nothing that was
	// printed meanwhile is lost.
	followed := make(chan error, 1)
	go func() {
		followed <- logs.Follow(followCtx, rt, logs.FollowOptions{
			Project:      p.Name,
			Services:     watched,
			Follow:       true,
			Tail:         logs.TailAll,
			UntilAllExit: true,
			// Only a restart policy restarts what up runs: end at the last exit for good.
			EndAtLastExit: true,
			OnExit: func(c runtime.Container, code int) {
				printer.Exited(c, code)
				exits.exited(c, code)
			},
			// Containers quick to exit may be done before the follower lists them.
			ReportEarlierExits: true,
			Attached:           attachedOut.Take,
		}, printer)
	}()
	if len(names) > 0 {
		fmt.Fprintf(out, "Attaching to %s\n", strings.Join(names, ", "))
	}

	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupts)
	// endFollow waits up to timeout for the follower to end on its own, then ends it; what it
	// failed to print once the project is being stopped is no longer news.
	followerDone := false
	endFollow := func(timeout time.Duration) {
		if followerDone {
			return
		}
		select {
		case <-followed:
		case <-time.After(timeout):
			stopFollow()
			<-followed
		}
		followerDone = true
	}
	select {
	case err := <-followed:
		followerDone = true
		if err != nil {
			return err
		}
		if !exits.hasAborted() {
			return exits.status()
		}
		// The aborting exit was the last of the attached containers: others may still run.
		fmt.Fprintln(g.streams.Err, "Aborting on container exit...")
	case <-interrupts:
		fmt.Fprintln(g.streams.Err, "Gracefully stopping... (press Ctrl+C again to force)")
	case <-exits.aborted:
		fmt.Fprintln(g.streams.Err, "Aborting on container exit...")
	}
	stopCtx, cancelStop := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStop()
	stopped := make(chan error, 1)
	go func() { stopped <- stopProject(stopCtx, g, rt, p.Name, timeoutFlag(o.timeout), false) }()
	select {
	case err := <-stopped:
		// Let the follower print the exits of the containers just stopped (and learn the exit
		// code of --exit-code-from's service), but not wait on it for ever.
		endFollow(drainTimeout)
		if err != nil {
			return err
		}
		return exits.status()
	case <-interrupts:
		cancelStop()
		<-stopped
		err := stopProject(context.WithoutCancel(ctx), g, rt, p.Name, nil, true)
		endFollow(0)
		if err != nil {
			return err
		}
		return &exitStatus{code: 130}
	}
}

// drainTimeout bounds how long attached `up`, having stopped the project, waits for the log
// follower to print the last output and exits.
const drainTimeout = 5 * time.Second

// exitPolicy watches the exits attached `up` sees and decides whether to abort and with which
// exit status, as Compose does: the first exit (--abort-on-container-exit) or the first failure
// (--abort-on-container-failure) aborts, and comp's status is that container's exit code, or
// with --exit-code-from the exit code of that service's first container to exit. An exit
// followed by a restart of the container's policy is none.
type exitPolicy struct {
	abortOnExit, abortOnFailure bool
	codeFrom                    string
	// aborted is closed on the exit that aborts.
	aborted chan struct{}

	mu            sync.Mutex
	abortCode     int
	abortSeen     bool
	fromCode      int
	fromCodeKnown bool
}

func newExitPolicy(o *upOptions) *exitPolicy {
	return &exitPolicy{abortOnExit: o.abortOnExit, abortOnFailure: o.abortOnFailure, codeFrom: o.exitCodeFrom,
		aborted: make(chan struct{})}
}

// exited records that container c exited with code; c is as inspected after the exit. It fits
// logs.FollowOptions.OnExit.
func (e *exitPolicy) exited(c runtime.Container, code int) {
	if c.State == runtime.StateRestarting || c.State == runtime.StateRunning {
		return // its restart policy brings it back
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.codeFrom != "" && serviceOf(c) == e.codeFrom && !e.fromCodeKnown {
		e.fromCode, e.fromCodeKnown = code, true
	}
	if !e.abortSeen && (e.abortOnExit || e.abortOnFailure && code != 0) {
		e.abortCode, e.abortSeen = code, true
		close(e.aborted)
	}
}

// hasAborted tells whether an exit has aborted the project.
func (e *exitPolicy) hasAborted() bool {
	select {
	case <-e.aborted:
		return true
	default:
		return false
	}
}

// status is the outcome of attached `up` once it ends: nil, or the exit status to end with.
func (e *exitPolicy) status() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	code := 0
	if e.abortSeen {
		code = e.abortCode
	}
	if e.fromCodeKnown {
		code = e.fromCode
	}
	if code == 0 {
		return nil
	}
	return &exitStatus{code: code}
}

// attachedNames are the display names of the containers of the attached services that plan
// keeps, starts or creates, sorted: what attached `up` says it attaches to.
func attachedNames(plan *planner.Plan, attached []string) []string {
	seen := map[string]bool{}
	var names []string
	for _, st := range plan.Steps {
		if st.Kind != planner.KindContainer || st.Quiet || !slices.Contains(attached, st.Service) {
			continue
		}
		var name string
		switch {
		case st.Action == planner.CreateContainer:
			name = runtime.DisplayName(st.Spec.Name, st.Spec.Labels)
		case st.Container != nil && (st.Action == planner.KeepContainer || st.Action == planner.StartContainer || st.Action == planner.RestartContainer):
			name = runtime.DisplayName(st.Container.Name, st.Container.Labels)
		default:
			continue
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// stopProject stops (or, with kill, kills) the project's running containers in reverse
// dependency order.
func stopProject(ctx context.Context, g *globalOptions, rt runtime.Runtime, name string, timeout *time.Duration, kill bool) error {
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{Project: name})
	if err != nil {
		return err
	}
	obs := planner.Observed{Containers: cs}
	if kill {
		_, err := reconcile.Apply(ctx, planner.Kill(obs, nil, "SIGKILL"), rt, reconcile.Options{Parallel: g.parallel})
		return err
	}
	return g.apply(ctx, rt, planner.Stop(obs, nil, timeout), "Stopping")
}
