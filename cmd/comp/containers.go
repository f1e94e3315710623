package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/comp-dev/comp/runtime"
)

// Which one-off (`comp run`) containers a listing includes.
type oneoffFilter int

const (
	oneoffExclude oneoffFilter = iota
	oneoffInclude
)

// projectContainers lists the containers of project name by label: running ones, or every one
// with all; one-off containers only with oneoffInclude. The list is sorted by name.
func projectContainers(ctx context.Context, rt runtime.Runtime, name string, all bool, oneoff oneoffFilter) ([]runtime.Container, error) {
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{Project: name, All: all})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", name, err)
	}
	out := cs[:0]
	for _, c := range cs {
		if oneoff == oneoffExclude && isOneoff(c) {
			continue
		}
		// A backend that lists more than asked must not make a stopped container look running.
		if !all && !isActive(c) {
			continue
		}
		out = append(out, c)
	}
	sortByName(out)
	return out, nil
}

// isOneoff tells a `comp run` container.
func isOneoff(c runtime.Container) bool { return c.Labels[runtime.LabelOneoff] == "True" }

// isActive tells a container that counts as running: running, paused or restarting, as the
// engine's "running" flag does.
func isActive(c runtime.Container) bool {
	switch c.State {
	case runtime.StateRunning, runtime.StatePaused, runtime.StateRestarting:
		return true
	}
	return false
}

func serviceOf(c runtime.Container) string { return c.Labels[runtime.LabelService] }

func containerNumber(c runtime.Container) int {
	n, _ := strconv.Atoi(c.Labels[runtime.LabelContainerNumber])
	return n
}

func sortByName(cs []runtime.Container) {
	slices.SortFunc(cs, func(a, b runtime.Container) int { return cmp.Compare(a.Name, b.Name) })
}

// serviceContainer finds the running container of service that `exec` and `port` act on: replica
// index, or with index 0 the lowest-numbered one, service replicas before one-off containers.
func serviceContainer(ctx context.Context, rt runtime.Runtime, projectName, service string, index int) (runtime.Container, error) {
	labels := map[string]string{runtime.LabelService: service}
	if index > 0 {
		labels[runtime.LabelContainerNumber] = strconv.Itoa(index)
	}
	cs, err := rt.ListContainers(ctx, runtime.ListOptions{Project: projectName, Labels: labels})
	if err != nil {
		return runtime.Container{}, fmt.Errorf("list containers of service %s: %w", service, err)
	}
	var candidates []runtime.Container
	for _, c := range cs {
		if serviceOf(c) != service || !isActive(c) {
			continue
		}
		if index > 0 && (containerNumber(c) != index || isOneoff(c)) {
			continue // --index names a replica, never a one-off
		}
		candidates = append(candidates, c)
	}
	if len(candidates) == 0 {
		if index > 0 {
			return runtime.Container{}, fmt.Errorf("service %q is not running container #%d", service, index)
		}
		return runtime.Container{}, fmt.Errorf("service %q is not running", service)
	}
	slices.SortFunc(candidates, func(a, b runtime.Container) int {
		return cmp.Or(
			cmpBool(isOneoff(a), isOneoff(b)),
			cmp.Compare(containerNumber(a), containerNumber(b)),
			cmp.Compare(a.Name, b.Name))
	})
	return candidates[0], nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// forEach runs fn for 0…n-1 at once (at most parallel at a time when parallel > 0) and joins
// their errors.
func forEach(ctx context.Context, parallel, n int, fn func(context.Context, int) error) error {
	var sem chan struct{}
	if parallel > 0 {
		sem = make(chan struct{}, parallel)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if sem != nil {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
			errs[i] = fn(ctx, i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
