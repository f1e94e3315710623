package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

func TestWaitState(t *testing.T) {
	running := container("demo", "web", 1, runtime.StateRunning)
	with := func(state, health string, code int) runtime.Container {
		c := running
		c.State, c.Health, c.ExitCode = state, health, code
		return c
	}
	tests := []struct {
		name       string
		c          runtime.Container
		goal       waitGoal
		wantStatus string
		wantDone   bool
		wantErr    string
	}{
		{"running without a healthcheck is up", with("running", "", 0), goalUp, "Running", true, ""},
		{"healthy is up", with("running", "healthy", 0), goalUp, "Healthy", true, ""},
		{"health starting is not yet", with("running", "starting", 0), goalUp, "", false, ""},
		{"restarting is not yet", with("restarting", "", 0), goalUp, "", false, ""},
		{"created is not yet", with("created", "", 0), goalUp, "", false, ""},
		{"unhealthy fails", with("running", "unhealthy", 0), goalUp, "", false, "container demo-web-1 is unhealthy"},
		{"an exit fails", with("exited", "", 1), goalUp, "", false, "container demo-web-1 exited (1)"},
		{"even an exit 0 fails a service meant to run", with("exited", "", 0), goalUp, "", false, "container demo-web-1 exited (0)"},
		{"a one-shot still running is not yet", with("running", "", 0), goalCompleted, "", false, ""},
		{"a one-shot exited 0 is done", with("exited", "", 0), goalCompleted, "Exited", true, ""},
		{"a one-shot that failed fails", with("exited", "", 2), goalCompleted, "", false, "container demo-web-1 didn't complete successfully: exit 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, done, err := waitState(tt.c, tt.goal)
			if status != tt.wantStatus || done != tt.wantDone {
				t.Errorf("waitState = %q, %v; want %q, %v", status, done, tt.wantStatus, tt.wantDone)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCompletedDependencies(t *testing.T) {
	p := testProject([]string{"init", "db", "web"}, map[string]map[string]string{
		"web": {"init": types.ServiceConditionCompletedSuccessfully, "db": types.ServiceConditionHealthy},
	})
	got := completedDependencies(p)
	if len(got) != 1 || !got["init"] {
		t.Errorf("completedDependencies = %v, want only init", got)
	}
}

func TestAwaitProject(t *testing.T) {
	p := testProject([]string{"init", "db", "web"}, map[string]map[string]string{
		"web": {"init": types.ServiceConditionCompletedSuccessfully, "db": types.ServiceConditionHealthy},
	})
	state := func(service, state, health string, code int) runtime.Container {
		c := container("demo", service, 1, state)
		c.Health, c.ExitCode = health, code
		return c
	}
	initRunning, initDone, initFailed := state("init", "running", "", 0), state("init", "exited", "", 0), state("init", "exited", "", 1)
	dbStarting, dbHealthy, dbUnhealthy := state("db", "running", "starting", 0), state("db", "running", "healthy", 0), state("db", "running", "unhealthy", 0)
	web := state("web", "running", "", 0)
	// A container of another project and a one-off are not waited for.
	other := state("web", "exited", "", 1)
	other.Labels[runtime.LabelProject] = "other"
	other.ID = "id-other"
	oneoff := state("web", "exited", "", 1)
	oneoff.ID, oneoff.Name, oneoff.Labels[runtime.LabelOneoff] = "id-run", "demo-web-run-1", "True"
	all := []runtime.Container{initDone, dbHealthy, web, other, oneoff}

	tests := []struct {
		name     string
		inspects map[string][]runtime.Container
		timeout  time.Duration
		wantErr  string
		wantDone []string
	}{
		{name: "returns once all are up",
			inspects: map[string][]runtime.Container{initDone.ID: {initRunning, initRunning, initDone}, dbHealthy.ID: {dbStarting, dbHealthy}},
			// In the order they get there.
			wantDone: []string{"Container demo-web-1 Running", "Container demo-db-1 Healthy", "Container demo-init-1 Exited"}},
		{name: "a one-shot's failure fails at once",
			inspects: map[string][]runtime.Container{initDone.ID: {initRunning, initFailed}, dbHealthy.ID: {dbStarting}},
			wantErr:  "container demo-init-1 didn't complete successfully: exit 1"},
		{name: "an unhealthy container fails at once",
			inspects: map[string][]runtime.Container{dbHealthy.ID: {dbStarting, dbUnhealthy}},
			wantErr:  "container demo-db-1 is unhealthy"},
		{name: "a container never healthy runs out the time",
			inspects: map[string][]runtime.Container{dbHealthy.ID: {dbStarting}}, timeout: 300 * time.Millisecond,
			wantErr: "waiting for demo-db-1: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fakeRuntime{containers: all, inspects: tt.inspects}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			var mu sync.Mutex
			var done []string
			err := awaitProject(ctx, rt, p, func(e reconcile.Event) {
				mu.Lock()
				defer mu.Unlock()
				if e.State == reconcile.Done {
					done = append(done, e.ID()+" "+e.Status)
				}
			})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(done, "\n") != strings.Join(tt.wantDone, "\n") {
				t.Errorf("done events:\n%s\nwant:\n%s", strings.Join(done, "\n"), strings.Join(tt.wantDone, "\n"))
			}
		})
	}
}

// waitingRuntime adds WaitContainer to fakeRuntime: a container's wait returns its code once
// its channel is closed.
type waitingRuntime struct {
	*fakeRuntime
	codes   map[string]int
	release map[string]chan struct{}
}

func (w *waitingRuntime) WaitContainer(ctx context.Context, id string) (int, error) {
	select {
	case <-w.release[id]:
		return w.codes[id], nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func TestWaitContainers(t *testing.T) {
	job, other, db := container("demo", "job", 1, runtime.StateRunning), container("demo", "job", 2, runtime.StateExited),
		container("demo", "db", 1, runtime.StateRunning)
	created := container("demo", "job", 3, runtime.StateCreated)
	newRuntime := func() *waitingRuntime {
		return &waitingRuntime{
			fakeRuntime: &fakeRuntime{containers: []runtime.Container{job, other, db, created}},
			codes:       map[string]int{job.ID: 5, other.ID: 3, db.ID: 0},
			release:     map[string]chan struct{}{job.ID: make(chan struct{}), other.ID: make(chan struct{}), db.ID: make(chan struct{})},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("every container of the services, the first exit's code", func(t *testing.T) {
		rt := newRuntime()
		close(rt.release[other.ID])
		type result struct {
			code int
			err  error
		}
		res := make(chan result, 1)
		var out bytes.Buffer
		go func() {
			code, err := waitContainers(ctx, rt, &out, "demo", []string{"job"}, false)
			res <- result{code, err}
		}()
		select {
		case r := <-res:
			t.Fatalf("returned %v before job-1 exited", r)
		case <-time.After(50 * time.Millisecond):
		}
		close(rt.release[job.ID])
		r := <-res
		if r.err != nil || r.code != 3 {
			t.Fatalf("waitContainers = %d, %v; want 3 (job-2 exited first)", r.code, r.err)
		}
		want := "container \"demo-job-2\" exited with status code 3\ncontainer \"demo-job-1\" exited with status code 5\n"
		if out.String() != want {
			t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
		}
	})
	t.Run("only the first with --down-project", func(t *testing.T) {
		rt := newRuntime()
		close(rt.release[job.ID])
		var out bytes.Buffer
		code, err := waitContainers(ctx, rt, &out, "demo", []string{"job", "db"}, true)
		if err != nil || code != 5 {
			t.Fatalf("waitContainers = %d, %v; want 5", code, err)
		}
		if want := "container \"demo-job-1\" exited with status code 5\n"; out.String() != want {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	})
	t.Run("no container", func(t *testing.T) {
		_, err := waitContainers(ctx, newRuntime(), &bytes.Buffer{}, "demo", []string{"nosuch"}, false)
		if err == nil || err.Error() != `no containers for project "demo"` {
			t.Errorf("err = %v", err)
		}
	})
}
