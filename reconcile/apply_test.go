package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// fakeRuntime records the calls Apply makes and serves container states from memory.
type fakeRuntime struct {
	runtime.Runtime // calls not overridden panic: the test did not expect them

	mu         sync.Mutex
	calls      []string
	containers map[string]runtime.Container
	failCreate string // name whose creation fails
	failStop   string
	inspected  map[string]int
	// events, when set, feeds Events: a test sends what the runtime would report.
	events chan runtime.Event
	// holdStart, when set, holds the start of container holdStartOf until it is closed.
	holdStart   chan struct{}
	holdStartOf string
	// holdRemove, when set, holds the removal of container holdRemoveOf until it is closed.
	holdRemove   chan struct{}
	holdRemoveOf string
}

func newFake() *fakeRuntime {
	return &fakeRuntime{containers: map[string]runtime.Container{}, inspected: map[string]int{}}
}

func (f *fakeRuntime) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeRuntime) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "\n")
}

// Events streams what the test sends on f.events until ctx ends.
func (f *fakeRuntime) Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (f *fakeRuntime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	return runtime.Image{ID: "sha256:img"}, nil
}

func (f *fakeRuntime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	f.record("create %s", spec.Name)
	if spec.Name == f.failCreate || strings.HasSuffix(spec.Name, "_"+f.failCreate) && f.failCreate != "" {
		return "", runtime.Classify(runtime.ErrConflict, errors.New("boom"))
	}
	f.mu.Lock()
	f.containers[spec.Name] = runtime.Container{ID: spec.Name, Name: spec.Name, State: runtime.StateCreated, Labels: spec.Labels}
	f.mu.Unlock()
	return spec.Name, nil
}

func (f *fakeRuntime) StartContainer(ctx context.Context, id string) error {
	if f.holdStart != nil && id == f.holdStartOf {
		<-f.holdStart
	}
	f.record("start %s", id)
	f.mu.Lock()
	c := f.containers[id]
	c.State = runtime.StateRunning
	if c.Labels["test.healthcheck"] == "yes" {
		c.Health = runtime.HealthStarting // as engines report a container with a healthcheck
	}
	f.containers[id] = c
	f.mu.Unlock()
	return nil
}

func (f *fakeRuntime) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	f.record("stop %s", id)
	if id == f.failStop {
		return errors.New("cannot stop")
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(ctx context.Context, id string, opts runtime.RemoveOptions) error {
	if f.holdRemove != nil && id == f.holdRemoveOf {
		<-f.holdRemove
	}
	f.record("remove %s", id)
	return nil
}

func (f *fakeRuntime) RemoveNetwork(ctx context.Context, name string) error {
	f.record("remove network %s", name)
	return nil
}

func (f *fakeRuntime) RenameContainer(ctx context.Context, id, name string) error {
	f.record("rename %s %s", id, name)
	return nil
}

func (f *fakeRuntime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (runtime.Network, error) {
	f.record("network %s", spec.Name)
	return runtime.Network{Name: spec.Name}, nil
}

func (f *fakeRuntime) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspected[id]++
	c, ok := f.containers[id]
	if !ok {
		return c, runtime.ErrNotFound
	}
	return c, nil
}

func (f *fakeRuntime) set(id string, change func(*runtime.Container)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	change(&c)
	f.containers[id] = c
}

func containerStep(name, service string, after ...string) *planner.Step {
	return &planner.Step{ID: "Container:" + name, Action: planner.CreateContainer, Kind: planner.KindContainer, Name: name,
		Service: service, Start: true, After: after, Spec: &runtime.ContainerSpec{Name: name, Image: "busybox", Labels: map[string]string{}}}
}

// As Docker Compose does, a container is created once its own image, networks and volumes are
// there, and started once the containers of the services it depends on are up.
func TestApplyRunsStepsAfterTheirDependencies(t *testing.T) {
	f := newFake()
	web := containerStep("web", "web", "Container:db", "Network:net")
	plan := &planner.Plan{Steps: []*planner.Step{
		web,
		containerStep("db", "db", "Network:net"),
		{ID: "Network:net", Action: planner.CreateNetwork, Kind: planner.KindNetwork, Name: "net", NetworkSpec: &runtime.NetworkSpec{Name: "net"}},
	}}
	var mu sync.Mutex
	var events []string
	err := Apply(context.Background(), plan, f, Options{Parallel: 1, Progress: func(e Event) {
		mu.Lock()
		events = append(events, e.ID()+" "+e.Status)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	log := f.log()
	for _, order := range [][2]string{
		{"network net", "create db"}, {"network net", "create web"},
		{"create db", "start db"}, {"start db", "start web"}, {"create web", "start web"},
	} {
		if i, j := strings.Index(log, order[0]), strings.Index(log, order[1]); i < 0 || j < 0 || i > j {
			t.Errorf("want %q before %q; calls:\n%s", order[0], order[1], log)
		}
	}
	if got := strings.Join(events, "\n"); !strings.Contains(got, "Container web Started") || !strings.Contains(got, "Network net Created") {
		t.Errorf("events:\n%s", got)
	}
}

// A container whose dependency has not started is created all the same — its start waits —
// unless its configuration names the dependency's container, which must exist first.
func TestApplyCreatesAheadOfDependencies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  func(*runtime.ContainerSpec)
		ahead bool
	}{
		{"depends_on only", func(*runtime.ContainerSpec) {}, true},
		{"network_mode container:", func(s *runtime.ContainerSpec) { s.NetworkMode = "container:db" }, false},
		{"volumes_from", func(s *runtime.ContainerSpec) { s.VolumesFrom = []string{"container:db"} }, false},
		{"links", func(s *runtime.ContainerSpec) { s.Links = []string{"db"} }, false},
		{"ipc container:", func(s *runtime.ContainerSpec) { s.IPC = "container:db" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			db, web := containerStep("db", "db"), containerStep("web", "web", "Container:db")
			tc.spec(web.Spec)
			// db's start is held until the test sees whether web was created meanwhile.
			f.holdStart = make(chan struct{})
			f.holdStartOf = "db"
			done := make(chan error, 1)
			go func() {
				done <- Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{db, web}}, f, Options{})
			}()
			created := func() bool { return strings.Contains(f.log(), "create web") }
			if tc.ahead {
				deadline := time.Now().Add(10 * time.Second)
				for !created() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if !created() {
					t.Errorf("web was not created while db's start was held:\n%s", f.log())
				}
			}
			close(f.holdStart)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			log := f.log()
			if i, j := strings.Index(log, "start db"), strings.Index(log, "create web"); !tc.ahead && j < i {
				t.Errorf("web was created before db started:\n%s", log)
			}
			if i, j := strings.Index(log, "start db"), strings.Index(log, "start web"); i < 0 || j < i {
				t.Errorf("web started before db:\n%s", log)
			}
		})
	}
}

func TestApplyCancelsOnlyTheDependentsOfAFailure(t *testing.T) {
	f := newFake()
	f.failCreate = "db"
	plan := &planner.Plan{Steps: []*planner.Step{
		containerStep("db", "db"),
		containerStep("web", "web", "Container:db"),
		containerStep("cache", "cache"),
	}}
	err := Apply(context.Background(), plan, f, Options{})
	if err == nil || !strings.Contains(err.Error(), "create container db") {
		t.Fatalf("err = %v", err)
	}
	// web may be created (Compose creates before it starts), but it is not started.
	log := f.log()
	if strings.Contains(log, "start web") || !strings.Contains(log, "start cache") {
		t.Errorf("calls:\n%s", log)
	}
}

func TestRecreateReplacesTheOldContainerOnlyOnceTheNewOneExists(t *testing.T) {
	f := newFake()
	old := runtime.Container{ID: "0123456789abcdef", Name: "web", State: runtime.StateRunning}
	st := containerStep("web", "web")
	st.Action, st.Container, st.Reason = planner.RecreateContainer, &old, "config changed"
	if err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{st}}, f, Options{}); err != nil {
		t.Fatal(err)
	}
	want := "create 0123456789ab_web\nstop 0123456789abcdef\nremove 0123456789abcdef\nrename 0123456789ab_web web\nstart 0123456789ab_web"
	if got := f.log(); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}

	// When the old container cannot be stopped, the new one is removed and the old one kept.
	f = newFake()
	f.failStop = old.ID
	err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{st}}, f, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	if got := f.log(); strings.Contains(got, "remove 0123456789abcdef") || !strings.Contains(got, "remove 0123456789ab_web") {
		t.Errorf("calls:\n%s", got)
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
			func(c *runtime.Container) { c.Health = runtime.HealthUnhealthy }, "container db is unhealthy"},
		{"exited dependency is named with its code", "service_healthy", true,
			func(c *runtime.Container) { c.State, c.ExitCode = runtime.StateExited, 1 }, "dependency failed to start: container db exited (1)"},
		{"no healthcheck", "service_healthy", true,
			func(c *runtime.Container) { c.Health = runtime.HealthNone }, "container db has no healthcheck configured"},
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
			db := containerStep("db", "db")
			if tc.name != "no healthcheck" {
				db.Spec.Labels["test.healthcheck"] = "yes"
			}
			web := containerStep("web", "web", db.ID)
			web.Waits = []planner.Wait{{Service: "db", Condition: tc.condition, Required: tc.required}}
			// The dependency reaches its final state after a few polls, not at once.
			go func() {
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					f.mu.Lock()
					n := f.inspected["db"]
					f.mu.Unlock()
					if n >= 2 {
						f.set("db", tc.becomes)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Apply(ctx, &planner.Plan{Steps: []*planner.Step{db, web}}, f, Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(f.log(), "start web") {
					t.Errorf("web not started:\n%s", f.log())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(f.log(), "start web") {
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
	f.events = make(chan runtime.Event)
	db := containerStep("db", "db")
	db.Spec.Labels["test.healthcheck"] = "yes"
	web := containerStep("web", "web", db.ID)
	web.Waits = []planner.Wait{{Service: "db", Condition: "service_healthy", Required: true}}
	go func() {
		// Once the wait has looked twice (before and after opening the stream), db becomes
		// healthy and the runtime says so.
		for {
			f.mu.Lock()
			n := f.inspected["db"]
			f.mu.Unlock()
			if n >= 2 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		f.set("db", func(c *runtime.Container) { c.Health = runtime.HealthHealthy })
		f.events <- runtime.Event{Action: "health_status", Container: "db", Name: "db", Health: runtime.HealthHealthy}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Apply(ctx, &planner.Plan{Steps: []*planner.Step{db, web}}, f, Options{}); err != nil {
		t.Fatalf("the wait did not end on the health event: %v", err)
	}
	if !strings.Contains(f.log(), "start web") {
		t.Errorf("web not started:\n%s", f.log())
	}
}

// BeforeStart runs just before each start, with the step and the container's ID; its error
// fails that step and the container is not started.
func TestBeforeStart(t *testing.T) {
	f := newFake()
	db := containerStep("db", "db")
	web := containerStep("web", "web", db.ID)
	var seen []string
	opts := Options{BeforeStart: func(ctx context.Context, st *planner.Step, id string) error {
		f.record("before start %s (%s)", id, st.Service)
		seen = append(seen, id)
		if st.Service == "web" {
			return errors.New("cannot attach")
		}
		return nil
	}}
	err := Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{db, web}}, f, opts)
	if err == nil || !strings.Contains(err.Error(), "cannot attach") {
		t.Fatalf("err = %v, want the hook's error", err)
	}
	log := f.log()
	if !strings.Contains(log, "before start db (db)\nstart db") {
		t.Errorf("the hook did not run just before db's start:\n%s", log)
	}
	if strings.Contains(log, "start web\n") || strings.HasSuffix(log, "start web") {
		t.Errorf("web started although its hook failed:\n%s", log)
	}
}

// down stops containers in reverse dependency order, but a container's removal does not wait
// for its dependents' removals, only for their stops: with web's removal held, db (which web
// depends on) is still stopped and removed.
func TestRemovalWaitsForDependentsStopOnly(t *testing.T) {
	f := newFake()
	f.holdRemove = make(chan struct{})
	f.holdRemoveOf = "web"
	web := &runtime.Container{ID: "web", Name: "web", State: runtime.StateRunning}
	db := &runtime.Container{ID: "db", Name: "db", State: runtime.StateRunning}
	webStep := &planner.Step{ID: "Container:web", Action: planner.RemoveContainer, Kind: planner.KindContainer, Name: "web", Service: "web", Container: web}
	dbStep := &planner.Step{ID: "Container:db", Action: planner.RemoveContainer, Kind: planner.KindContainer, Name: "db", Service: "db", Container: db,
		After: []string{webStep.ID}}
	netStep := &planner.Step{ID: "Network:net", Action: planner.RemoveNetwork, Kind: planner.KindNetwork, Name: "net",
		After: []string{webStep.ID, dbStep.ID}}
	done := make(chan error, 1)
	go func() {
		done <- Apply(context.Background(), &planner.Plan{Steps: []*planner.Step{webStep, dbStep, netStep}}, f, Options{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.log(), "remove db") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	log := f.log()
	if !strings.Contains(log, "remove db") {
		t.Fatalf("db was not removed while web's removal was held:\n%s", log)
	}
	if i, j := strings.Index(log, "stop web"), strings.Index(log, "stop db"); i < 0 || j < i {
		t.Errorf("db stopped before web:\n%s", log)
	}
	if strings.Contains(log, "remove network net") {
		t.Errorf("the network was removed before every container:\n%s", log)
	}
	close(f.holdRemove)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
