package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// Options tune Apply.
type Options struct {
	// Parallel bounds how many steps act at once (--parallel, COMPOSE_PARALLEL_LIMIT); 0 or
	// less means no bound.
	Parallel int
	Progress Progress
	// ConditionTimeout bounds each wait on a depends_on condition; 0 means no bound.
	ConditionTimeout time.Duration
	// BeforeStart, when set, is called just before each container is started, with its step
	// and ID: attached `up` attaches to the output there, as Docker Compose does. An error
	// fails the step.
	BeforeStart func(ctx context.Context, st *planner.Step, id string) error
}

// ErrDependencyFailed marks a step skipped because a step it waits for failed.
var ErrDependencyFailed = errors.New("dependency failed")

// Apply runs the plan's steps along their DAG. A failed step cancels the steps that wait for it
// (they are not run) while independent steps go on; the error joins every root failure. What
// was done stays done: the next `up` converges from there.
func Apply(ctx context.Context, plan *planner.Plan, rt runtime.Runtime, opts Options) error {
	a := &applier{
		rt:       rt,
		opts:     opts,
		done:     map[string]chan struct{}{},
		failed:   map[string]bool{},
		services: map[string][]string{},
	}
	if opts.Parallel > 0 {
		a.sem = make(chan struct{}, opts.Parallel)
	}
	a.steps = map[string]*planner.Step{}
	a.stopped = map[string]*stopSignal{}
	for _, st := range plan.Steps {
		a.done[st.ID] = make(chan struct{})
		a.steps[st.ID] = st
		if st.Action == planner.RemoveContainer {
			a.stopped[st.ID] = &stopSignal{ch: make(chan struct{})}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(plan.Steps))
	for i, st := range plan.Steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(a.done[st.ID])
			errs[i] = a.run(ctx, st)
			if errs[i] != nil {
				a.mu.Lock()
				a.failed[st.ID] = true
				a.mu.Unlock()
			}
			if sig := a.stopped[st.ID]; sig != nil {
				sig.close(errs[i] != nil) // no-op when the stop was signalled already
			}
		}()
	}
	wg.Wait()
	var roots []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrDependencyFailed) {
			roots = append(roots, err)
		}
	}
	if len(roots) == 0 {
		for _, err := range errs {
			if err != nil {
				roots = append(roots, err)
				break
			}
		}
	}
	return errors.Join(roots...)
}

type applier struct {
	rt   runtime.Runtime
	opts Options
	sem  chan struct{}

	mu       sync.Mutex
	done     map[string]chan struct{}
	failed   map[string]bool
	services map[string][]string // service -> IDs of its containers handled by this plan
	steps    map[string]*planner.Step
	// stopped is signalled by each RemoveContainer step once its container is stopped: the
	// removal of a container waits only for its dependents to be stopped, not removed.
	stopped map[string]*stopSignal
}

// stopSignal is closed once; failed says that the container could not be stopped.
type stopSignal struct {
	once   sync.Once
	ch     chan struct{}
	failed bool
}

func (s *stopSignal) close(failed bool) {
	s.once.Do(func() {
		s.failed = failed
		close(s.ch)
	})
}

func (a *applier) run(ctx context.Context, st *planner.Step) error {
	now, later := st.After, []string(nil)
	if a.createsAhead(st) {
		now, later = a.splitDependencies(st)
	}
	// A container's removal waits for its dependents (as down orders them) to be stopped, not
	// removed: down stops containers in reverse dependency order, as Compose does, while the
	// removals go on meanwhile.
	if err := a.waitSteps(ctx, st, now, st.Action == planner.RemoveContainer); err != nil {
		return err
	}
	err := a.act(ctx, st, later)
	if err != nil {
		a.opts.Progress.emit(st.Kind, st.Name, "Error", Error, err.Error())
	}
	return err
}

// waitSteps waits until the steps deps are done — with stopEnough, a dependency that removes
// a container only until that container is stopped. One that failed fails st with
// ErrDependencyFailed.
func (a *applier) waitSteps(ctx context.Context, st *planner.Step, deps []string, stopEnough bool) error {
	for _, dep := range deps {
		ch, ok := a.done[dep]
		if !ok {
			continue
		}
		failed := func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.failed[dep]
		}
		if sig := a.stopped[dep]; stopEnough && sig != nil {
			ch, failed = sig.ch, func() bool { return sig.failed }
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if failed() {
			return fmt.Errorf("%s %s: %w", st.Kind, st.Name, ErrDependencyFailed)
		}
	}
	return ctx.Err()
}

// createsAhead tells whether st's new container can be created before the containers of the
// services it depends on are up, and only its start wait for them — as Docker Compose
// creates every container, then starts them in dependency order. That holds when its
// configuration names no other container (network_mode, ipc or pid container:, volumes_from,
// links), which the engine would resolve at creation.
func (a *applier) createsAhead(st *planner.Step) bool {
	if st.Action != planner.CreateContainer || !st.Start || st.Spec == nil {
		return false
	}
	sp := st.Spec
	for _, mode := range []string{sp.NetworkMode, sp.IPC, sp.PID} {
		if strings.HasPrefix(mode, "container:") || strings.HasPrefix(mode, "service:") {
			return false
		}
	}
	return len(sp.VolumesFrom) == 0 && len(sp.Links) == 0
}

// splitDependencies splits st's dependencies into those its creation waits for (its image,
// networks, volumes, anything of its own service) and the other services' containers, which
// only its start waits for.
func (a *applier) splitDependencies(st *planner.Step) (now, later []string) {
	for _, id := range st.After {
		dep := a.steps[id]
		if dep != nil && dep.Kind == planner.KindContainer && dep.Service != st.Service {
			switch dep.Action {
			case planner.CreateContainer, planner.RecreateContainer, planner.StartContainer,
				planner.KeepContainer, planner.RestartContainer:
				later = append(later, id)
				continue
			}
		}
		now = append(now, id)
	}
	return now, later
}

// acquire bounds the concurrency of engine calls; waits on conditions do not hold a slot.
func (a *applier) acquire(ctx context.Context) (release func(), err error) {
	if a.sem == nil {
		return func() {}, nil
	}
	select {
	case a.sem <- struct{}{}:
		return func() { <-a.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// act carries out st once the dependencies run waited for are done; startAfter are those
// that only its start waits for (createsAhead).
func (a *applier) act(ctx context.Context, st *planner.Step, startAfter []string) error {
	p := a.opts.Progress
	switch st.Action {
	case planner.PullImage:
		release, err := a.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		p.emit(st.Kind, st.Name, "Pulling", Working, "")
		if err := a.rt.PullImage(ctx, st.Name, nil); err != nil {
			// The runtime's error already names the operation and the image.
			switch {
			case errors.Is(err, runtime.ErrNotFound):
				return fmt.Errorf("%w (check the image name and tag)", err)
			case errors.Is(err, runtime.ErrUnavailable):
				return fmt.Errorf("%w (is the registry reachable?)", err)
			}
			return err
		}
		p.emit(st.Kind, st.Name, "Pulled", Done, "")
	case planner.BuildImage:
		builder, ok := a.rt.(runtime.ImageBuilder)
		if !ok {
			return fmt.Errorf("service %q: the %s runtime cannot build images", st.Service, a.rt.Name())
		}
		release, err := a.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		p.emit(st.Kind, st.Name, "Building", Working, "")
		if _, err := builder.BuildImage(ctx, *st.Build, func(bp runtime.BuildProgress) {
			if bp.Step != "" {
				p.emit(st.Kind, st.Name, "Building", Working, bp.Step)
			}
		}); err != nil {
			return fmt.Errorf("service %q: build %s: %w", st.Service, st.Name, err)
		}
		p.emit(st.Kind, st.Name, "Built", Done, "")
	case planner.CreateNetwork:
		p.emit(st.Kind, st.Name, "Creating", Working, "")
		if _, err := a.rt.CreateNetwork(ctx, *st.NetworkSpec); err != nil {
			if !errors.Is(err, runtime.ErrConflict) {
				return fmt.Errorf("create network %s: %w", st.Name, err)
			}
			// Created meanwhile by another command: fine if it is there now.
			if _, ierr := a.rt.InspectNetwork(ctx, st.Name); ierr != nil {
				return fmt.Errorf("create network %s: %w", st.Name, err)
			}
		}
		p.emit(st.Kind, st.Name, "Created", Done, "")
	case planner.CreateVolume:
		p.emit(st.Kind, st.Name, "Creating", Working, "")
		if _, err := a.rt.CreateVolume(ctx, *st.VolumeSpec); err != nil && !errors.Is(err, runtime.ErrConflict) {
			return fmt.Errorf("create volume %s: %w", st.Name, err)
		}
		p.emit(st.Kind, st.Name, "Created", Done, "")
	case planner.CreateContainer:
		id, err := a.create(ctx, st, st.Spec.Name)
		if err != nil {
			return err
		}
		p.emit(st.Kind, st.Name, "Created", Done, "")
		a.record(st.Service, id)
		if st.Start {
			if err := a.waitSteps(ctx, st, startAfter, false); err != nil {
				return err
			}
			return a.start(ctx, st, id)
		}
	case planner.RecreateContainer:
		id, err := a.recreate(ctx, st)
		if err != nil {
			return err
		}
		a.record(st.Service, id)
		if st.Start {
			return a.start(ctx, st, id)
		}
	case planner.StartContainer:
		a.record(st.Service, st.Container.ID)
		return a.start(ctx, st, st.Container.ID)
	case planner.RestartContainer:
		a.record(st.Service, st.Container.ID)
		if err := a.waitFor(ctx, st); err != nil {
			return err
		}
		release, err := a.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		p.emit(st.Kind, st.Name, "Restarting", Working, st.Reason)
		if err := a.rt.RestartContainer(ctx, st.Container.ID, st.Timeout); err != nil {
			return fmt.Errorf("restart container %s: %w", st.Name, err)
		}
		p.emit(st.Kind, st.Name, "Restarted", Done, st.Reason)
	case planner.KeepContainer:
		a.record(st.Service, st.Container.ID)
		p.emit(st.Kind, st.Name, "Running", Done, "")
	case planner.StopContainer:
		release, err := a.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		p.emit(st.Kind, st.Name, "Stopping", Working, "")
		if err := a.rt.StopContainer(ctx, st.Container.ID, st.Timeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop container %s: %w", st.Name, err)
		}
		p.emit(st.Kind, st.Name, "Stopped", Done, "")
	case planner.RemoveContainer:
		release, err := a.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		return a.remove(ctx, st.Kind, st.Name, st.Container, st.Timeout, func() { a.stopped[st.ID].close(false) })
	case planner.RemoveNetwork:
		return a.removeObject(st, "network", func() error { return a.rt.RemoveNetwork(ctx, st.Name) })
	case planner.RemoveVolume:
		return a.removeObject(st, "volume", func() error { return a.rt.RemoveVolume(ctx, st.Name, false) })
	case planner.RemoveImage:
		return a.removeObject(st, "image", func() error { return a.rt.RemoveImage(ctx, st.Name, false) })
	default:
		return fmt.Errorf("step %s: unknown action %q", st.ID, st.Action)
	}
	return nil
}

// removeObject removes a network, volume or image: one already gone is removed, one still in
// use is a warning (down goes on), anything else an error naming the object.
func (a *applier) removeObject(st *planner.Step, what string, remove func() error) error {
	p := a.opts.Progress
	p.emit(st.Kind, st.Name, "Removing", Working, "")
	if err := remove(); err != nil {
		switch {
		case errors.Is(err, runtime.ErrNotFound):
		case errors.Is(err, runtime.ErrConflict):
			p.emit(st.Kind, st.Name, "Resource is still in use", Warning, "")
			return nil
		default:
			return fmt.Errorf("remove %s %s: %w", what, st.Name, err)
		}
	}
	p.emit(st.Kind, st.Name, "Removed", Done, "")
	return nil
}

func (a *applier) record(service, id string) {
	a.mu.Lock()
	a.services[service] = append(a.services[service], id)
	a.mu.Unlock()
}

func (a *applier) containersOf(service string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.services[service]...)
}

// create creates st.Spec under name, labelling it with the ID of the image it will run.
func (a *applier) create(ctx context.Context, st *planner.Step, name string) (string, error) {
	release, err := a.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	spec := *st.Spec
	spec.Name = name
	spec.Labels = copyLabels(spec.Labels)
	if spec.Labels[runtime.LabelImage] == "" {
		if img, err := a.rt.InspectImage(ctx, spec.Image); err == nil {
			spec.Labels[runtime.LabelImage] = img.ID
		}
	}
	if st.Action == planner.CreateContainer {
		a.opts.Progress.emit(st.Kind, st.Name, "Creating", Working, "")
	}
	id, err := a.rt.CreateContainer(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", st.Name, err)
	}
	return id, nil
}

// recreate replaces st.Container: the new container is created under a temporary name first, so
// a failure before the old one is removed leaves the old one in place.
func (a *applier) recreate(ctx context.Context, st *planner.Step) (string, error) {
	p := a.opts.Progress
	old := st.Container
	p.emit(st.Kind, st.Name, "Recreate", Working, st.Reason)
	tmp := shortID(old.ID) + "_" + st.Spec.Name
	id, err := a.create(ctx, st, tmp)
	if err != nil {
		return "", err
	}
	release, err := a.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	if err := a.rt.StopContainer(ctx, old.ID, st.Timeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		_ = a.rt.RemoveContainer(context.WithoutCancel(ctx), id, runtime.RemoveOptions{Force: true})
		return "", fmt.Errorf("recreate container %s: stop the old container: %w", st.Name, err)
	}
	if err := a.rt.RemoveContainer(ctx, old.ID, runtime.RemoveOptions{Force: true}); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return "", fmt.Errorf("recreate container %s: remove the old container: %w", st.Name, err)
	}
	if err := a.rt.RenameContainer(ctx, id, st.Spec.Name); err != nil {
		return "", fmt.Errorf("recreate container %s: rename %s: %w", st.Name, tmp, err)
	}
	p.emit(st.Kind, st.Name, "Recreated", Done, st.Reason)
	return id, nil
}

func (a *applier) start(ctx context.Context, st *planner.Step, id string) error {
	if err := a.waitFor(ctx, st); err != nil {
		return err
	}
	release, err := a.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if a.opts.BeforeStart != nil {
		if err := a.opts.BeforeStart(ctx, st, id); err != nil {
			return fmt.Errorf("start container %s: %w", st.Name, err)
		}
	}
	p := a.opts.Progress
	p.emit(st.Kind, st.Name, "Starting", Working, "")
	if err := a.rt.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("start container %s: %w", st.Name, err)
	}
	p.emit(st.Kind, st.Name, "Started", Done, "")
	return nil
}

func (a *applier) remove(ctx context.Context, kind, name string, c *runtime.Container, timeout *time.Duration, stopped func()) error {
	p := a.opts.Progress
	if c.State == runtime.StateRunning || c.State == runtime.StateRestarting || c.State == runtime.StatePaused {
		p.emit(kind, name, "Stopping", Working, "")
		if err := a.rt.StopContainer(ctx, c.ID, timeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop container %s: %w", name, err)
		}
		p.emit(kind, name, "Stopped", Done, "")
	}
	if stopped != nil {
		stopped()
	}
	p.emit(kind, name, "Removing", Working, "")
	if err := a.rt.RemoveContainer(ctx, c.ID, runtime.RemoveOptions{Force: true, Volumes: true}); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	p.emit(kind, name, "Removed", Done, "")
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
