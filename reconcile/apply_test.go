package reconcile

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/fakeruntime"
	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

func newFake() *fakeruntime.Runtime {
	f := fakeruntime.New()
	f.AddImage("busybox", "sha256:b")
	return f
}

// step is a step of action on container name of its own service (its name).
func step(action planner.Action, name string, after ...string) *planner.Step {
	st := &planner.Step{ID: planner.StepID(planner.KindContainer, name, action), Action: action,
		Kind: planner.KindContainer, Name: name, Service: name, After: after}
	if action == planner.CreateContainer {
		st.Spec = &runtime.ContainerSpec{Name: name, Image: "busybox", Labels: map[string]string{runtime.LabelProject: "p"}}
	}
	return st
}

// created and started are a container's create and start steps, the start after the create
// and the steps given.
func created(name string, after ...string) (*planner.Step, *planner.Step) {
	c := step(planner.CreateContainer, name)
	return c, step(planner.StartContainer, name, append([]string{c.ID}, after...)...)
}

// before says whether call a was made before call b.
func before(calls []string, a, b string) bool {
	i, j := slices.Index(calls, a), slices.Index(calls, b)
	return i >= 0 && j >= 0 && i < j
}

// recorder collects progress events as "Kind Name Status".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) progress(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.ID()+" "+e.Status)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

func TestApplyRunsStepsAfterTheirDependencies(t *testing.T) {
	f := newFake()
	network := &planner.Step{ID: "Network:net/CreateNetwork", Action: planner.CreateNetwork, Kind: planner.KindNetwork, Name: "net",
		NetworkSpec: &runtime.NetworkSpec{Name: "net"}}
	createDB, startDB := created("db")
	createDB.After = []string{network.ID}
	createWeb, startWeb := created("web", startDB.ID)
	createWeb.After = []string{network.ID}
	var rec recorder
	res, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{startWeb, createWeb, startDB, createDB, network}}, f,
		Options{Parallel: 1, Progress: rec.progress})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	for _, order := range [][2]string{
		{"create network net", "create db"}, {"create network net", "create web"},
		{"create db", "start db"}, {"start db", "start web"}, {"create web", "start web"},
	} {
		if !before(calls, order[0], order[1]) {
			t.Errorf("want %q before %q; calls: %q", order[0], order[1], calls)
		}
	}
	if got := rec.String(); !strings.Contains(got, "Container web Started") || !strings.Contains(got, "Network net Created") {
		t.Errorf("events:\n%s", got)
	}
	if c, _ := f.Container("web"); res.Created["web"] != c.ID || c.State != runtime.StateRunning {
		t.Errorf("created = %v, web = %+v", res.Created, c)
	}
}

func TestApplyCancelsOnlyTheDependentsOfAFailure(t *testing.T) {
	f := newFake()
	f.Fail["create db"] = runtime.Classify(runtime.ErrConflict, errors.New("create container db: boom"))
	createDB, startDB := created("db")
	createWeb, startWeb := created("web", startDB.ID)
	createCache, startCache := created("cache")
	_, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{createDB, startDB, createWeb, startWeb, createCache, startCache}}, f, Options{})
	if err == nil || err.Error() != "create container db: boom" {
		t.Fatalf("err = %v, want the runtime's error once", err)
	}
	// web may be created (Compose creates before it starts), but it is not started.
	if calls := f.Calls(); slices.Contains(calls, "start web") || !slices.Contains(calls, "start cache") {
		t.Errorf("calls: %q", calls)
	}
}

func TestDependsOnConditions(t *testing.T) {
	cases := []struct {
		name      string
		condition string
		required  bool
		becomes   func(*runtime.Container)
		wantErr   string
	}{
		{"healthy dependency lets the dependent start", "service_healthy", true,
			func(c *runtime.Container) { c.Health = runtime.HealthHealthy }, ""},
		{"unhealthy dependency is named", "service_healthy", true,
			func(c *runtime.Container) { c.Health = runtime.HealthUnhealthy }, "dependency failed to start: container db is unhealthy"},
		{"exited dependency is named with its code", "service_healthy", true,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 1 }, "dependency failed to start: container db exited (1)"},
		{"no healthcheck", "service_healthy", true,
			func(c *runtime.Container) { c.Health = runtime.HealthNone }, "dependency failed to start: container db has no healthcheck configured"},
		{"completed successfully", "service_completed_successfully", true,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 0 }, ""},
		{"completed with a failure", "service_completed_successfully", true,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 2 }, `service "db" didn't complete successfully: exit 2`},
		{"optional dependency failing is a warning", "service_healthy", false,
			func(c *runtime.Container) { c.Health = runtime.HealthUnhealthy }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			createDB, startDB := created("db")
			createDB.Spec.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", "true"}}
			createWeb, startWeb := created("web", startDB.ID)
			startWeb.Waits = []planner.Wait{{Service: "db", Condition: tc.condition, Required: tc.required, Containers: []string{"db"}}}
			// The dependency reaches its final state once the dependent waits, not at once.
			go func() {
				if f.WaitCall("start db", 5*time.Second) {
					time.Sleep(30 * time.Millisecond)
					f.Set("db", "health_status", tc.becomes)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var rec recorder
			_, err := Apply(ctx, &planner.Plan{Steps: []*planner.Step{createDB, startDB, createWeb, startWeb}}, f, Options{Progress: rec.progress})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(f.Calls(), "start web") {
					t.Errorf("web not started: %q", f.Calls())
				}
				if !tc.required && !strings.Contains(rec.String(), "Container web Warning") {
					t.Errorf("no warning for the optional dependency:\n%s", rec.String())
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if slices.Contains(f.Calls(), "start web") {
				t.Error("web started despite the failed condition")
			}
		})
	}
}

// A wait on service_healthy moves on when the runtime reports the container's health, not at
// the next poll: with polling slowed to an hour, only the event can end the wait in time.
func TestHealthyWaitWakesOnEvent(t *testing.T) {
	defer func(start, max time.Duration) { pollStart, pollMax = start, max }(pollStart, pollMax)
	pollStart, pollMax = time.Hour, time.Hour
	f := newFake()
	createDB, startDB := created("db")
	createDB.Spec.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", "true"}}
	createWeb, startWeb := created("web", startDB.ID)
	startWeb.Waits = []planner.Wait{{Service: "db", Condition: "service_healthy", Required: true, Containers: []string{"db"}}}
	go func() {
		if f.WaitCall("start db", 5*time.Second) {
			time.Sleep(50 * time.Millisecond) // the wait has opened its event stream
			f.Set("db", "health_status", func(c *runtime.Container) { c.Health = runtime.HealthHealthy })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Apply(ctx, &planner.Plan{Steps: []*planner.Step{createDB, startDB, createWeb, startWeb}}, f, Options{}); err != nil {
		t.Fatalf("the wait did not end on the health event: %v", err)
	}
}

// `up --wait` waits for each container's own goal, and its failures name the container.
func TestAwaitGoals(t *testing.T) {
	cases := []struct {
		name    string
		goal    string
		health  bool
		becomes func(*runtime.Container)
		status  string
		wantErr string
	}{
		{"running without a healthcheck", planner.ConditionUp, false, nil, "Running", ""},
		{"healthy", planner.ConditionUp, true, func(c *runtime.Container) { c.Health = runtime.HealthHealthy }, "Healthy", ""},
		{"unhealthy", planner.ConditionUp, true, func(c *runtime.Container) { c.Health = runtime.HealthUnhealthy }, "", "container app is unhealthy"},
		{"exited before it was healthy", planner.ConditionUp, true, func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 3 }, "", "container app exited (3)"},
		{"a one-shot that completed", "service_completed_successfully", false,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 0 }, "Exited", ""},
		{"a one-shot that failed", "service_completed_successfully", false,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 1 }, "", "container app didn't complete successfully: exit 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			create, start := created("app")
			if tc.health {
				create.Spec.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", "true"}}
			}
			await := step(planner.AwaitContainer, "app", start.ID)
			await.Waits = []planner.Wait{{Service: "app", Condition: tc.goal, Required: true, Containers: []string{"app"}, Goal: true}}
			if tc.becomes != nil {
				go func() {
					if f.WaitCall("start app", 5*time.Second) {
						time.Sleep(30 * time.Millisecond)
						f.Set("app", "die", tc.becomes)
					}
				}()
			}
			var rec recorder
			_, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{create, start, await}}, f,
				Options{Progress: rec.progress, Deadline: time.Now().Add(10 * time.Second)})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.String(); !strings.Contains(got, "Container app Waiting\n") || !strings.HasSuffix(got, "Container app "+tc.status) {
				t.Errorf("progress:\n%s\nwant Waiting, then %s", got, tc.status)
			}
		})
	}
}

// The deadline of `up --wait-timeout` ends a wait that would not end.
func TestDeadlineEndsConditionWaits(t *testing.T) {
	f := newFake()
	create, start := created("app")
	create.Spec.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", "true"}}
	await := step(planner.AwaitContainer, "app", start.ID)
	await.Waits = []planner.Wait{{Service: "app", Condition: planner.ConditionUp, Required: true, Containers: []string{"app"}, Goal: true}}
	_, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{create, start, await}}, f,
		Options{Deadline: time.Now().Add(100 * time.Millisecond)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

// BeforeStart runs just before each start, with the step and the container's ID; its error
// fails that step and the container is not started.
func TestBeforeStart(t *testing.T) {
	f := newFake()
	createDB, startDB := created("db")
	createWeb, startWeb := created("web", startDB.ID)
	var mu sync.Mutex
	var seen []string
	opts := Options{BeforeStart: func(ctx context.Context, st *planner.Step, id string) error {
		c, _ := f.Container(id)
		mu.Lock()
		seen = append(seen, c.Name+" "+c.State)
		mu.Unlock()
		if st.Service == "web" {
			return errors.New("cannot attach")
		}
		return nil
	}}
	_, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{createDB, startDB, createWeb, startWeb}}, f, opts)
	if err == nil || err.Error() != "attach to container web: cannot attach" {
		t.Fatalf("err = %v, want the hook's error", err)
	}
	if !slices.Contains(seen, "db created") || !slices.Contains(f.Calls(), "start db") {
		t.Errorf("the hook did not see db before its start: %q, calls %q", seen, f.Calls())
	}
	if slices.Contains(f.Calls(), "start web") {
		t.Errorf("web started although its hook failed: %q", f.Calls())
	}
}

// An optional step that fails is a warning, and what comes after it goes on.
func TestOptionalStepFailsWithAWarning(t *testing.T) {
	f := newFake()
	f.Fail["pull gone"] = runtime.Classify(runtime.ErrNotFound, errors.New("pull image gone: not found"))
	pull := &planner.Step{ID: "Image:gone/Pull", Action: planner.PullImage, Kind: planner.KindImage, Name: "gone", Service: "web", Optional: true}
	create := step(planner.CreateContainer, "web", pull.ID)
	var rec recorder
	if _, err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{pull, create}}, f, Options{Progress: rec.progress}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), "Image gone Warning") || !slices.Contains(f.Calls(), "create web") {
		t.Errorf("progress:\n%s\ncalls %q", rec.String(), f.Calls())
	}
}

const demo = `
name: demo
services:
  db:
    image: busybox
  web:
    image: busybox
    depends_on: [db]
    environment: {V: "1"}
`

func load(t *testing.T, yaml string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	file := dir + "/compose.yaml"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(context.Background(), project.Options{Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// applyUp observes p on f, plans `up`, checks the plan and applies it, as the command does.
func applyUp(t *testing.T, f *fakeruntime.Runtime, p *project.Project, progress Progress) error {
	t.Helper()
	ctx := context.Background()
	obs, err := Observe(ctx, f, p.Name, p)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planner.Up(p, obs, planner.UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Preflight(ctx, plan, f); err != nil {
		return err
	}
	_, err = Apply(ctx, plan, f, Options{Progress: progress})
	return err
}

// up, planned and applied: a second up changes nothing; a changed service is recreated as
// stop, rename, create, start, remove, while what did not change is kept; down takes it all.
func TestUpConvergesAndRecreatesInNamedSteps(t *testing.T) {
	f := newFake()
	ctx := context.Background()
	up := func(p *project.Project) *recorder {
		t.Helper()
		var rec recorder
		if err := applyUp(t, f, p, rec.progress); err != nil {
			t.Fatal(err)
		}
		return &rec
	}
	p := load(t, demo)
	up(p)
	if n := len(f.Calls()); n != 5 {
		t.Fatalf("first up: %q", f.Calls())
	}
	up(p)
	if n := len(f.Calls()); n != 5 {
		t.Fatalf("a second up changed something: %q", f.Calls()[5:])
	}
	old, _ := f.Container("demo-web-1")
	rec := up(load(t, strings.Replace(demo, `V: "1"`, `V: "2"`, 1)))
	tmp := old.ID[:12] + "_demo-web-1"
	want := []string{"stop demo-web-1", "rename demo-web-1 " + tmp, "create demo-web-1", "start demo-web-1", "remove " + tmp}
	if got := f.Calls()[5:]; !slices.Equal(got, want) {
		t.Errorf("recreate: %q, want %q", got, want)
	}
	if got, want := rec.String(), "Container demo-db-1 Running\nContainer demo-web-1 Recreate\nContainer demo-web-1 Recreated\n"+
		"Container demo-web-1 Starting\nContainer demo-web-1 Started"; got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
	obs, err := Observe(ctx, f, "demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, planner.Down(nil, obs, planner.DownOptions{}), f, Options{}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := f.ListContainers(ctx, runtime.ListOptions{Project: "demo", All: true}); len(cs) != 0 {
		t.Errorf("down left %+v", cs)
	}
	if calls := f.Calls(); !before(calls, "stop demo-web-1", "stop demo-db-1") || !before(calls, "remove demo-db-1", "remove network demo_default") {
		t.Errorf("down's order: %q", calls[10:])
	}
}

// A recreate that fails to create the new container leaves the old one, stopped under its
// temporary name with its volumes; the next up converges.
func TestRecreateThatFailsLeavesTheOldContainer(t *testing.T) {
	f := newFake()
	ctx := context.Background()
	apply := func(p *project.Project) error { return applyUp(t, f, p, nil) }
	if err := apply(load(t, demo)); err != nil {
		t.Fatal(err)
	}
	old, _ := f.Container("demo-web-1")
	changed := load(t, strings.Replace(demo, `V: "1"`, `V: "2"`, 1))
	f.Fail["create demo-web-1"] = errors.New("create container demo-web-1: no space left on device")
	if err := apply(changed); err == nil {
		t.Fatal("no error")
	}
	kept, ok := f.Container(old.ID)
	if !ok || kept.Name != old.ID[:12]+"_demo-web-1" || kept.State != runtime.StateExited {
		t.Fatalf("old container after the failure: %+v", kept)
	}
	delete(f.Fail, "create demo-web-1")
	if err := apply(changed); err != nil {
		t.Fatal(err)
	}
	cs, _ := f.ListContainers(ctx, runtime.ListOptions{Project: "demo", Labels: map[string]string{runtime.LabelService: "web"}, All: true})
	if len(cs) != 1 || cs[0].Name != "demo-web-1" || cs[0].State != runtime.StateRunning {
		t.Errorf("web after the next up: %+v", cs)
	}
}
