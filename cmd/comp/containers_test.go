package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func oneoff(project, service, slug string, state string) runtime.Container {
	c := container(project, service, 1, state)
	c.Name = project + "-" + service + "-run-" + slug
	c.ID = "id-" + c.Name
	c.Labels[runtime.LabelOneoff] = "True"
	return c
}

func TestProjectContainers(t *testing.T) {
	rt := &fakeRuntime{containers: []runtime.Container{
		container("demo", "web", 2, runtime.StateRunning),
		container("demo", "web", 1, runtime.StateExited),
		container("other", "web", 1, runtime.StateRunning),
		oneoff("demo", "web", "abc", runtime.StateRunning),
		container("demo", "db", 1, runtime.StatePaused),
	}}
	names := func(cs []runtime.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	tests := []struct {
		name   string
		all    bool
		oneoff oneoffFilter
		want   []string
	}{
		{"running replicas only", false, oneoffExclude, []string{"demo-db-1", "demo-web-2"}},
		{"stopped ones too", true, oneoffExclude, []string{"demo-db-1", "demo-web-1", "demo-web-2"}},
		{"one-offs too", false, oneoffInclude, []string{"demo-db-1", "demo-web-2", "demo-web-run-abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := projectContainers(context.Background(), rt, "demo", tt.all, tt.oneoff)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(cs); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServiceContainer(t *testing.T) {
	rt := &fakeRuntime{containers: []runtime.Container{
		oneoff("demo", "web", "abc", runtime.StateRunning),
		container("demo", "web", 3, runtime.StateRunning),
		container("demo", "web", 2, runtime.StateRunning),
		container("demo", "web", 1, runtime.StateExited),
		container("demo", "db", 1, runtime.StateExited),
		oneoff("demo", "job", "def", runtime.StateRunning),
	}}
	ctx := context.Background()
	tests := []struct {
		name    string
		service string
		index   int
		want    string
		wantErr string
	}{
		{"the lowest running replica", "web", 0, "demo-web-2", ""},
		{"the replica asked for", "web", 3, "demo-web-3", ""},
		{"a stopped replica is not running", "web", 1, "", `service "web" is not running container #1`},
		{"a stopped service", "db", 0, "", `service "db" is not running`},
		{"a service with only a one-off", "job", 0, "demo-job-run-def", ""},
		{"an unknown service", "cache", 0, "", `service "cache" is not running`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := serviceContainer(ctx, rt, "demo", tt.service, tt.index)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.want {
				t.Errorf("got %s, want %s", c.Name, tt.want)
			}
		})
	}
}

func TestForEachJoinsErrors(t *testing.T) {
	boom := errors.New("boom")
	err := forEach(context.Background(), 1, 3, func(_ context.Context, i int) error {
		if i == 1 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}
