package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/planner"
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

func TestLabelDependencies(t *testing.T) {
	c := container("demo", "web", 1, runtime.StateRunning)
	c.Labels[runtime.LabelDependsOn] = "cache:service_started:false,db:service_healthy:true"
	got := labelDependencies(c)
	want := []dependency{
		{Service: "cache", Condition: "service_started"},
		{Service: "db", Condition: "service_healthy", Restart: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if deps := labelDependencies(container("demo", "db", 1, runtime.StateRunning)); len(deps) != 0 {
		t.Errorf("no label gave %+v", deps)
	}
}

// chain is db <- api (healthy) <- web, each with the labels `up` writes.
func chain(states ...string) []runtime.Container {
	db := container("demo", "db", 1, states[0])
	api := container("demo", "api", 1, states[1])
	api.Labels[runtime.LabelDependsOn] = "db:service_healthy:true"
	web := container("demo", "web", 1, states[2])
	web.Labels[runtime.LabelDependsOn] = "api:service_started:false"
	return []runtime.Container{api, db, web}
}

func TestStartPlanOrdersByLabels(t *testing.T) {
	plan, err := startPlan(chain(runtime.StateExited, runtime.StateExited, runtime.StateRunning))
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]*planner.Step{}
	for _, st := range plan.Steps {
		steps[st.Name] = st
	}
	if st := steps["demo-db-1"]; st.Action != planner.StartContainer || len(st.After) != 0 {
		t.Errorf("db: %s after %v, want a start with no prerequisite", st.Action, st.After)
	}
	api := steps["demo-api-1"]
	if api.Action != planner.StartContainer || !slices.Equal(api.After, []string{"Container:demo-db-1"}) {
		t.Errorf("api: %s after %v, want a start after db", api.Action, api.After)
	}
	if len(api.Waits) != 1 || api.Waits[0] != (planner.Wait{Service: "db", Condition: "service_healthy", Required: true}) {
		t.Errorf("api waits %+v, want db healthy", api.Waits)
	}
	if st := steps["demo-web-1"]; st.Action != planner.KeepContainer {
		t.Errorf("running web: %s, want it kept", st.Action)
	}
}

func TestStartPlanRefusesACycle(t *testing.T) {
	a := container("demo", "a", 1, runtime.StateExited)
	a.Labels[runtime.LabelDependsOn] = "b:service_started:false"
	b := container("demo", "b", 1, runtime.StateExited)
	b.Labels[runtime.LabelDependsOn] = "a:service_started:false"
	_, err := startPlan([]runtime.Container{a, b})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle detected: a -> b -> a") {
		t.Errorf("err = %v, want the cycle named", err)
	}
}

func TestWithDependencies(t *testing.T) {
	g := labelGraph(chain(runtime.StateRunning, runtime.StateRunning, runtime.StateRunning))
	got := withDependencies(g, []string{"api"})
	if len(got) != 2 || !got["api"] || !got["db"] {
		t.Errorf("api with dependencies = %v, want api and db", got)
	}
	if all := withDependencies(g, nil); len(all) != 3 {
		t.Errorf("no service named gave %v, want every service", all)
	}
}

func TestRestartDependents(t *testing.T) {
	cs := chain(runtime.StateRunning, runtime.StateRunning, runtime.StateRunning)
	got := restartDependents(cs, []string{"db"})
	// api depends on db with restart: true; web depends on api without it.
	if len(got) != 1 || !got["api"] {
		t.Errorf("restart db also restarts %v, want api only", got)
	}
}

func TestAwaitCondition(t *testing.T) {
	db := container("demo", "db", 1, runtime.StateRunning)
	healthy := db
	healthy.Health = runtime.HealthHealthy
	starting := db
	starting.Health = runtime.HealthStarting
	unhealthy := db
	unhealthy.Health = runtime.HealthUnhealthy
	exited := db
	exited.State, exited.ExitCode = runtime.StateExited, 3

	tests := []struct {
		name    string
		seq     []runtime.Container
		cond    string
		wantErr string
	}{
		{"healthy after starting", []runtime.Container{starting, starting, healthy}, "service_healthy", ""},
		{"unhealthy", []runtime.Container{starting, unhealthy}, "service_healthy", "dependency failed to start: container demo-db-1 is unhealthy"},
		{"no healthcheck", []runtime.Container{db}, "service_healthy", "dependency failed to start: container demo-db-1 has no healthcheck configured"},
		{"exited while waiting for health", []runtime.Container{exited}, "service_healthy", "dependency failed to start: container demo-db-1 exited (3)"},
		{"completed with a failure", []runtime.Container{db, exited}, "service_completed_successfully", `service "db" didn't complete successfully: exit 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fakeRuntime{inspects: map[string][]runtime.Container{db.ID: tt.seq}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := awaitCondition(ctx, rt, db, dependency{Service: "db", Condition: tt.cond})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
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
