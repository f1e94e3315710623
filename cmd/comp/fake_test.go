package main

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/comp-dev/comp/runtime"
)

// fakeRuntime is a runtime.Runtime that lists the containers a read test gives it. Methods it
// does not override panic through the nil embedded interface, so a test sees at once what it
// relies on. (Tests of commands that change state use internal/fakeruntime.)
type fakeRuntime struct {
	runtime.Runtime

	mu         sync.Mutex
	containers []runtime.Container
}

func (f *fakeRuntime) Close() error { return nil }

// ListContainers filters as the Docker backend does: by project, by label, and by running
// state unless All.
func (f *fakeRuntime) ListContainers(_ context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Container
	for _, c := range f.containers {
		if opts.Project != "" && c.Labels[runtime.LabelProject] != opts.Project {
			continue
		}
		if opts.Project == "" && c.Labels[runtime.LabelProject] == "" {
			continue
		}
		if !opts.All && !isActive(c) {
			continue
		}
		match := true
		for k, v := range opts.Labels {
			if got, ok := c.Labels[k]; !ok || (v != "" && got != v) {
				match = false
			}
		}
		if match {
			c.Labels = maps.Clone(c.Labels)
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeRuntime) InspectContainer(_ context.Context, id string) (runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.ID == id || c.Name == id {
			return c, nil
		}
	}
	return runtime.Container{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("inspect container %s: no such container", id))
}

func (f *fakeRuntime) Top(_ context.Context, id string) (runtime.Top, error) {
	return runtime.Top{Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{{"root", "1", "sleep " + id}}}, nil
}

// container is a running replica n of service in project, started at started.
func container(project, service string, n int, state string) runtime.Container {
	name := project + "-" + service + "-" + strconv.Itoa(n)
	return runtime.Container{
		ID:    "id-" + name,
		Name:  name,
		Image: service + ":latest",
		State: state,
		Labels: map[string]string{
			runtime.LabelProject:         project,
			runtime.LabelService:         service,
			runtime.LabelContainerNumber: strconv.Itoa(n),
			runtime.LabelOneoff:          "False",
		},
	}
}
