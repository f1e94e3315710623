package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// Engine is what reconcile needs of a runtime: to read the project's objects (Observe), to
// ask what it supports (Preflight), and to carry out each kind of step (Apply). Every
// runtime.Runtime is one; a test gives a fake.
type Engine interface {
	ListContainers(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error)
	InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error)
	CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	StopContainer(ctx context.Context, id string, timeout *time.Duration) error
	KillContainer(ctx context.Context, id string, signal string) error
	RestartContainer(ctx context.Context, id string, timeout *time.Duration) error
	RenameContainer(ctx context.Context, id string, newName string) error
	RemoveContainer(ctx context.Context, id string, opts runtime.RemoveOptions) error

	ListNetworks(ctx context.Context, opts runtime.ListOptions) ([]runtime.Network, error)
	InspectNetwork(ctx context.Context, idOrName string) (runtime.Network, error)
	CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error)
	RemoveNetwork(ctx context.Context, idOrName string) error

	ListVolumes(ctx context.Context, opts runtime.ListOptions) ([]runtime.Volume, error)
	InspectVolume(ctx context.Context, name string) (runtime.Volume, error)
	CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error)
	RemoveVolume(ctx context.Context, name string, force bool) error

	InspectImage(ctx context.Context, ref string) (runtime.Image, error)
	PullImage(ctx context.Context, ref string, progress func(runtime.PullProgress)) error
	BuildImage(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error)
	RemoveImage(ctx context.Context, ref string, force bool) error

	Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error)
	runtime.SpecChecker
	// Name names the runtime, for the compose keys it refuses (project.Keys).
	Name() string
}

var _ Engine = runtime.Runtime(nil)

// Options tune Apply.
type Options struct {
	// Parallel bounds how many steps act at once (--parallel, COMPOSE_PARALLEL_LIMIT); 0 or
	// less means no bound.
	Parallel int
	Progress Progress
	// Deadline, when set, ends every wait on a condition (depends_on, --wait) at that time.
	Deadline time.Time
	// BeforeStart, when set, is called just before each container is started, with its step
	// and ID: attached `up` and `run` attach to the output there. An error fails the step.
	BeforeStart func(ctx context.Context, st *planner.Step, id string) error
}

// ErrDependencyFailed marks a step skipped because a step it waits for failed.
var ErrDependencyFailed = errors.New("dependency failed")

// Result is what Apply learnt while running a plan.
type Result struct {
	// Created maps the name of each container the plan created to its ID.
	Created map[string]string
}

// Apply runs the plan's steps along their DAG: each once the steps it comes after are done
// and its conditions hold. A failed step cancels the steps that wait for it (they are not run)
// while independent steps go on; the error joins every root failure. What was done stays
// done: the next `up` converges from there.
func Apply(ctx context.Context, plan *planner.Plan, rt Engine, opts Options) (Result, error) {
	a := &applier{
		rt:      rt,
		opts:    opts,
		done:    map[string]chan struct{}{},
		failed:  map[string]bool{},
		created: map[string]string{},
	}
	if opts.Parallel > 0 {
		a.sem = make(chan struct{}, opts.Parallel)
	}
	for _, st := range plan.Steps {
		a.done[st.ID] = make(chan struct{})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(plan.Steps))
	for i, st := range plan.Steps {
		wg.Go(func() {
			defer close(a.done[st.ID])
			errs[i] = a.run(ctx, st)
			if errs[i] != nil {
				a.mu.Lock()
				a.failed[st.ID] = true
				a.mu.Unlock()
			}
		})
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
	return Result{Created: a.created}, errors.Join(roots...)
}

type applier struct {
	rt   Engine
	opts Options
	sem  chan struct{}

	mu     sync.Mutex
	done   map[string]chan struct{}
	failed map[string]bool
	// created maps the name of each container created so far to its ID.
	created map[string]string
}

func (a *applier) run(ctx context.Context, st *planner.Step) error {
	if err := a.waitSteps(ctx, st); err != nil {
		return err
	}
	if err := a.waitConditions(ctx, st); err != nil {
		a.emit(st, "Error", Error, err.Error())
		return err
	}
	err := a.act(ctx, st)
	if err != nil && st.Optional {
		a.emit(st, "Warning", Warning, err.Error())
		return nil
	}
	if err != nil {
		a.emit(st, "Error", Error, err.Error())
	}
	return err
}

// waitSteps waits until the steps st comes after are done. One that failed fails st with
// ErrDependencyFailed.
func (a *applier) waitSteps(ctx context.Context, st *planner.Step) error {
	for _, dep := range st.After {
		ch, ok := a.done[dep]
		if !ok {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		a.mu.Lock()
		failed := a.failed[dep]
		a.mu.Unlock()
		if failed {
			return fmt.Errorf("%s %s: %w", st.Kind, st.Name, ErrDependencyFailed)
		}
	}
	return ctx.Err()
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

// emit reports progress about st's object, unless st is quiet.
func (a *applier) emit(st *planner.Step, status string, state State, detail string) {
	if !st.Quiet {
		a.opts.Progress.emit(st.Kind, st.Name, status, state, detail)
	}
}

// container is the ID of the container st acts on: the observed one, else the one the plan
// created under st's name, else the name itself (which the runtimes take too).
func (a *applier) container(st *planner.Step) string {
	if st.Container != nil {
		return st.Container.ID
	}
	return a.resolve(st.Name)
}

// resolve is the ID of the container the plan created as name, else name.
func (a *applier) resolve(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.created[name]; ok {
		return id
	}
	return name
}

// act carries out st, its prerequisites done. The runtime's errors name the operation and
// the object; act adds to them only what the runtime cannot know.
func (a *applier) act(ctx context.Context, st *planner.Step) error {
	switch st.Action {
	case planner.KeepContainer:
		a.emit(st, "Running", Done, "")
		return nil
	case planner.SkipImage:
		a.emit(st, st.Reason, Done, "")
		return nil
	case planner.AwaitContainer:
		return nil // its Waits were the work
	}
	release, err := a.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	switch st.Action {
	case planner.PullImage:
		return a.pull(ctx, st)
	case planner.BuildImage:
		a.emit(st, "Building", Working, "")
		if _, err := a.rt.BuildImage(ctx, *st.Build, func(bp runtime.BuildProgress) {
			if bp.Step != "" {
				a.emit(st, "Building", Working, bp.Step)
			}
		}); err != nil {
			return fmt.Errorf("service %q: build %s: %w", st.Service, st.Name, err)
		}
		a.emit(st, "Built", Done, "")
	case planner.CreateNetwork:
		a.emit(st, "Creating", Working, "")
		if _, err := a.rt.CreateNetwork(ctx, *st.NetworkSpec); err != nil {
			// Created meanwhile by another command: fine if it is there now.
			if _, ierr := a.rt.InspectNetwork(ctx, st.Name); !errors.Is(err, runtime.ErrConflict) || ierr != nil {
				return err
			}
		}
		a.emit(st, "Created", Done, "")
	case planner.CreateVolume:
		a.emit(st, "Creating", Working, "")
		if _, err := a.rt.CreateVolume(ctx, *st.VolumeSpec); err != nil && !errors.Is(err, runtime.ErrConflict) {
			return err
		}
		a.emit(st, "Created", Done, "")
	case planner.CreateContainer:
		if !st.Recreating {
			a.emit(st, "Creating", Working, "")
		}
		id, err := a.rt.CreateContainer(ctx, *st.Spec)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.created[st.Spec.Name] = id
		a.mu.Unlock()
		if st.Recreating {
			a.emit(st, "Recreated", Done, st.Reason)
		} else {
			a.emit(st, "Created", Done, "")
		}
	case planner.StartContainer:
		id := a.container(st)
		if a.opts.BeforeStart != nil {
			if err := a.opts.BeforeStart(ctx, st, id); err != nil {
				return fmt.Errorf("attach to container %s: %w", st.Name, err)
			}
		}
		a.emit(st, "Starting", Working, "")
		if err := a.rt.StartContainer(ctx, id); err != nil {
			return err
		}
		a.emit(st, "Started", Done, "")
	case planner.RestartContainer:
		a.emit(st, "Restarting", Working, st.Reason)
		if err := a.rt.RestartContainer(ctx, a.container(st), st.Timeout); err != nil {
			return err
		}
		// `up` restarts a dependent for a reason, and says it did; `restart` is a start again.
		if st.Reason != "" {
			a.emit(st, "Restarted", Done, st.Reason)
		} else {
			a.emit(st, "Started", Done, "")
		}
	case planner.StopContainer:
		if st.Recreating {
			a.emit(st, "Recreate", Working, st.Reason)
		} else {
			a.emit(st, "Stopping", Working, "")
		}
		if err := a.rt.StopContainer(ctx, a.container(st), st.Timeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		if !st.Recreating {
			a.emit(st, "Stopped", Done, "")
		}
	case planner.KillContainer:
		a.emit(st, "Killing", Working, "")
		// One gone or no longer running meanwhile is killed enough.
		if err := a.rt.KillContainer(ctx, a.container(st), st.Signal); err != nil &&
			!errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, runtime.ErrConflict) {
			return err
		}
		a.emit(st, "Killed", Done, "")
	case planner.RenameContainer:
		return a.rt.RenameContainer(ctx, a.container(st), st.NewName)
	case planner.RemoveContainer:
		if !st.Recreating {
			a.emit(st, "Removing", Working, "")
		}
		err := a.rt.RemoveContainer(ctx, a.container(st), runtime.RemoveOptions{Force: st.Force, Volumes: st.RemoveVolumes})
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		if !st.Recreating {
			a.emit(st, "Removed", Done, "")
		}
	case planner.RemoveNetwork:
		return a.removeObject(st, func() error { return a.rt.RemoveNetwork(ctx, st.Name) })
	case planner.RemoveVolume:
		return a.removeObject(st, func() error { return a.rt.RemoveVolume(ctx, st.Name, false) })
	case planner.RemoveImage:
		return a.removeObject(st, func() error { return a.rt.RemoveImage(ctx, st.Name, false) })
	default:
		return fmt.Errorf("step %s: unknown action %q", st.ID, st.Action)
	}
	return nil
}

// pull pulls st's image; a failure says what to check, and for `pull` names the service.
func (a *applier) pull(ctx context.Context, st *planner.Step) error {
	a.emit(st, "Pulling", Working, "")
	if err := a.rt.PullImage(ctx, st.Name, nil); err != nil {
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			err = fmt.Errorf("%w (check the image name and tag)", err)
		case errors.Is(err, runtime.ErrUnavailable):
			err = fmt.Errorf("%w (is the registry reachable?)", err)
		}
		if st.Service != "" {
			err = fmt.Errorf("service %q: %w", st.Service, err)
		}
		return err
	}
	a.emit(st, "Pulled", Done, "")
	return nil
}

// removeObject removes a network, volume or image: one already gone is removed, one still in
// use is a warning (down goes on), anything else an error.
func (a *applier) removeObject(st *planner.Step, remove func() error) error {
	a.emit(st, "Removing", Working, "")
	if err := remove(); err != nil {
		switch {
		case errors.Is(err, runtime.ErrNotFound):
		case errors.Is(err, runtime.ErrConflict):
			a.emit(st, "Resource is still in use", Warning, "")
			return nil
		default:
			return err
		}
	}
	a.emit(st, "Removed", Done, "")
	return nil
}
