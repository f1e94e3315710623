package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/fakeruntime"
	"github.com/comp-dev/comp/runtime"
)

// These tests run comp's commands in this process, from the command line to the runtime,
// against an in-memory runtime given through the factory (newRootCmd's newRuntime): what a
// command asks of a runtime, in which order, and what it prints.

// syncBuffer is a bytes.Buffer that a test reads while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stack is a compose project in a folder of its own, run against one fake runtime.
type stack struct {
	t    *testing.T
	rt   *fakeruntime.Runtime
	file string
}

const demoCompose = `
name: demo
services:
  db:
    image: busybox
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  app:
    image: busybox
    depends_on:
      db: {condition: service_healthy, restart: true}
    environment: {V: "1"}
`

func newStack(t *testing.T, compose string) *stack {
	t.Helper()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := fakeruntime.New()
	rt.AddImage("busybox", "sha256:b")
	return &stack{t: t, rt: rt, file: file}
}

// result is how a command ended.
type result struct {
	out, err string
	code     int // comp's exit status
}

// comp runs comp with args (global flags first, as on the command line) and returns what it
// printed and its exit status.
func (s *stack) comp(args ...string) result {
	s.t.Helper()
	var out, errOut syncBuffer
	streams := &IOStreams{In: strings.NewReader(""), Out: &out, Err: &errOut}
	root := newRootCmd(streams, func(context.Context, string) (runtime.Runtime, error) { return s.rt, nil })
	root.SetArgs(append([]string{"-f", s.file, "--progress", "plain"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := 0
	if err := root.ExecuteContext(ctx); err != nil {
		var st *exitStatus
		if errors.As(err, &st) {
			code = st.code
		} else {
			code = 1
			errOut.Write([]byte("Error: " + err.Error() + "\n"))
		}
	}
	return result{out: out.String(), err: errOut.String(), code: code}
}

// must runs comp and fails the test unless it succeeds.
func (s *stack) must(args ...string) result {
	s.t.Helper()
	r := s.comp(args...)
	if r.code != 0 {
		s.t.Fatalf("comp %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r
}

// healthyOnStart makes each container of names healthy as soon as it starts.
func (s *stack) healthyOnStart(names ...string) {
	for _, name := range names {
		s.rt.Healthy[name] = true
	}
}

// on is the stack for subtest t.
func (s *stack) on(t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

// calls are the fake's calls since mark, a count of earlier calls.
func (s *stack) calls(mark int) []string { return s.rt.Calls()[mark:] }

func TestUpInProcess(t *testing.T) {
	s := newStack(t, demoCompose)
	s.healthyOnStart("demo-db-1")
	r := s.must("up", "-d")
	want := []string{"recover demo", "create network demo_default", "create demo-db-1", "create demo-app-1", "start demo-db-1", "start demo-app-1"}
	if got := s.calls(0); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) ||
		slices.Index(got, "start demo-db-1") > slices.Index(got, "start demo-app-1") {
		t.Errorf("up -d: %q, want %q with db started first", got, want)
	}
	if !strings.Contains(r.err, " Container demo-app-1  Started") {
		t.Errorf("progress:\n%s", r.err)
	}

	t.Run("a second up changes nothing", func(t *testing.T) {
		s := s.on(t)
		mark := len(s.rt.Calls())
		r := s.must("up", "-d")
		if got := s.calls(mark); !slices.Equal(got, []string{"recover demo"}) {
			t.Errorf("calls %q", got)
		}
		if !strings.Contains(r.err, " Container demo-app-1  Running") {
			t.Errorf("progress:\n%s", r.err)
		}
	})
	t.Run("dry-run prints the plan and changes nothing", func(t *testing.T) {
		s := s.on(t)
		mark := len(s.rt.Calls())
		r := s.must("--dry-run", "up", "-d", "--force-recreate")
		if !strings.Contains(r.out, "Container demo-app-1  Stop (forced by --force-recreate)") || len(s.calls(mark)) != 1 {
			t.Errorf("plan:\n%s\ncalls %q", r.out, s.calls(mark))
		}
	})
	t.Run("a changed service is recreated in named steps", func(t *testing.T) {
		s := s.on(t)
		old, _ := s.rt.Container("demo-app-1")
		if err := os.WriteFile(s.file, []byte(strings.Replace(demoCompose, `V: "1"`, `V: "2"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		mark := len(s.rt.Calls())
		r := s.must("up", "-d")
		tmp := old.ID[:12] + "_demo-app-1"
		want := []string{"recover demo", "stop demo-app-1", "rename demo-app-1 " + tmp, "create demo-app-1", "start demo-app-1", "remove " + tmp}
		if got := s.calls(mark); !slices.Equal(got, want) {
			t.Errorf("calls %q, want %q", got, want)
		}
		if !strings.Contains(r.err, " Container demo-app-1  Recreate (config changed: environment)") {
			t.Errorf("progress:\n%s", r.err)
		}
	})
	t.Run("--wait waits until healthy, and times out", func(t *testing.T) {
		s := s.on(t)
		mark := len(s.rt.Calls())
		r := s.must("up", "-d", "--wait", "--force-recreate")
		if !strings.Contains(r.err, " Container demo-db-1  Healthy") || !strings.Contains(r.err, " Container demo-app-1  Running") {
			t.Errorf("progress:\n%s", r.err)
		}
		if !slices.Contains(s.calls(mark), "start demo-db-1") {
			t.Errorf("calls %q", s.calls(mark))
		}
		// Nothing makes the recreated db healthy this time.
		delete(s.rt.Healthy, "demo-db-1")
		r = s.comp("up", "-d", "--wait", "--wait-timeout", "1", "--force-recreate")
		if r.code != 1 || !strings.Contains(r.err, "application not healthy after 1s") {
			t.Errorf("exit %d:\n%s", r.code, r.err)
		}
	})
}

func TestAttachedUpInProcess(t *testing.T) {
	s := newStack(t, `
name: demo
services:
  app:
    image: busybox
`)
	go func() {
		if s.rt.WaitCall("start demo-app-1", 20*time.Second) {
			s.rt.Print("demo-app-1", "hello")
			s.rt.Exit("demo-app-1", 3)
		}
	}()
	r := s.comp("up", "--no-color", "--abort-on-container-exit")
	if r.code != 3 {
		t.Errorf("exit %d, want the container's 3\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"Attaching to app-1", "app-1  | hello", "app-1 exited with code 3"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
}

func TestStopStartRestartInProcess(t *testing.T) {
	s := newStack(t, demoCompose)
	s.healthyOnStart("demo-db-1")
	s.must("up", "-d")

	mark := len(s.rt.Calls())
	s.must("stop")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "stop demo-app-1", "stop demo-db-1"}) {
		t.Errorf("stop: %q, want the dependent first", got)
	}

	// start waits until db is healthy again before it starts app.
	mark = len(s.rt.Calls())
	delete(s.rt.Healthy, "demo-db-1")
	var health sync.WaitGroup
	health.Go(func() {
		if s.rt.WaitCall("start demo-db-1", 20*time.Second) {
			time.Sleep(50 * time.Millisecond)
			if c, _ := s.rt.Container("demo-app-1"); c.State == runtime.StateRunning {
				t.Error("app started before db was healthy")
			}
			s.rt.Set("demo-db-1", "health_status", func(c *runtime.Container) { c.Health = runtime.HealthHealthy })
		}
	})
	r := s.must("start")
	health.Wait()
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "start demo-db-1", "start demo-app-1"}) {
		t.Errorf("start: %q", got)
	}
	if !strings.Contains(r.err, " Container demo-db-1  Healthy") {
		t.Errorf("progress:\n%s", r.err)
	}

	// restart db restarts app too (depends_on restart: true), after db.
	mark = len(s.rt.Calls())
	s.must("restart", "db")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "restart demo-db-1", "restart demo-app-1"}) {
		t.Errorf("restart db: %q", got)
	}
	mark = len(s.rt.Calls())
	s.must("restart", "--no-deps", "db")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "restart demo-db-1"}) {
		t.Errorf("restart --no-deps db: %q", got)
	}
}

func TestRunInProcess(t *testing.T) {
	s := newStack(t, demoCompose)
	s.healthyOnStart("demo-db-1")
	go func() {
		if s.rt.WaitCall("start one", 20*time.Second) {
			s.rt.Print("one", "ran")
			s.rt.Exit("one", 2)
		}
	}()
	r := s.comp("run", "--rm", "--name", "one", "app", "echo", "ran")
	if r.code != 2 {
		t.Errorf("exit %d, want the command's 2\n%s%s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out, "ran") {
		t.Errorf("output:\n%s", r.out)
	}
	calls := s.rt.Calls()
	for _, order := range [][2]string{{"start demo-db-1", "create one"}, {"create one", "start one"}, {"start one", "remove one"}} {
		if i, j := slices.Index(calls, order[0]), slices.Index(calls, order[1]); i < 0 || j < 0 || i > j {
			t.Errorf("want %q before %q: %q", order[0], order[1], calls)
		}
	}
	if slices.Contains(calls, "create demo-app-1") {
		t.Errorf("run created the service's own replica: %q", calls)
	}
	if strings.Contains(r.err, "Container one") {
		t.Errorf("progress names the one-off:\n%s", r.err)
	}

	t.Run("detached, it prints the name", func(t *testing.T) {
		s := s.on(t)
		r := s.must("run", "-d", "--name", "two", "app")
		if r.out != "two\n" {
			t.Errorf("output %q", r.out)
		}
		if c, _ := s.rt.Container("two"); c.State != runtime.StateRunning || c.Labels[runtime.LabelOneoff] != "True" {
			t.Errorf("the one-off: %+v", c)
		}
	})
}

func TestLogsInProcess(t *testing.T) {
	s := newStack(t, demoCompose)
	s.healthyOnStart("demo-db-1")
	s.must("up", "-d")
	s.rt.Print("demo-db-1", "ready")
	s.rt.Print("demo-app-1", "hello", "world")
	r := s.must("logs", "--no-color")
	for _, want := range []string{"db-1   | ready\n", "app-1  | hello\n", "app-1  | world\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("logs lack %q:\n%s", want, r.out)
		}
	}
	if r := s.must("logs", "--no-color", "--no-log-prefix", "app"); r.out != "hello\nworld\n" {
		t.Errorf("logs app:\n%s", r.out)
	}
}

func TestKillRmDownInProcess(t *testing.T) {
	s := newStack(t, demoCompose)
	s.healthyOnStart("demo-db-1")
	s.must("up", "-d")

	mark := len(s.rt.Calls())
	s.must("kill", "-s", "TERM", "app")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "kill demo-app-1 SIGTERM"}) {
		t.Errorf("kill: %q", got)
	}
	mark = len(s.rt.Calls())
	r := s.must("rm", "-f")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "remove demo-app-1"}) || !strings.Contains(r.out, "Going to remove demo-app-1") {
		t.Errorf("rm -f: %q\n%s", got, r.out)
	}
	mark = len(s.rt.Calls())
	s.must("down")
	if got := s.calls(mark); !slices.Equal(got, []string{"recover demo", "stop demo-db-1", "remove demo-db-1", "remove network demo_default"}) {
		t.Errorf("down: %q", got)
	}
	if r := s.must("down"); !strings.Contains(r.err, `No resource found to remove for project "demo".`) {
		t.Errorf("a second down:\n%s", r.err)
	}
}

// A container the runtime refuses stops up before anything is made.
func TestUpRefusesUnsupportedInputBeforeAnything(t *testing.T) {
	s := newStack(t, demoCompose)
	s.rt.Refuse = func(spec runtime.ContainerSpec) error {
		if spec.Labels[runtime.LabelService] == "app" {
			return runtime.Classify(runtime.ErrNotImplemented, errors.New("container demo-app-1: not on this runtime"))
		}
		return nil
	}
	r := s.comp("up", "-d")
	if r.code != 1 || !strings.Contains(r.err, `service "app": container demo-app-1: not on this runtime`) {
		t.Errorf("exit %d:\n%s", r.code, r.err)
	}
	if got := s.calls(0); !slices.Equal(got, []string{"recover demo"}) {
		t.Errorf("calls %q, want none that changes anything", got)
	}
}
