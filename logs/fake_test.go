package logs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// fakeEngine is an in-memory Source that behaves as the Docker Engine does where Follow
// relies on it: Since is inclusive, Tail counts from the end, a followed stream ends when the
// run it started on stops, and events go only to subscribers present when they happen.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	subs       []chan runtime.Event
	subscribed chan struct{} // closed by the first Events call
	clock      time.Time     // the time of the latest line
	// coarseSince truncates Since to whole seconds, as some log drivers do.
	coarseSince bool
	// failLogs makes Logs of these container IDs fail.
	failLogs map[string]error
	logCalls []runtime.LogOptions
	// errs is the error channel of every Events subscription.
	errs chan error
}

type fakeContainer struct {
	c     runtime.Container
	lines []runtime.LogLine
	run   int           // increases with every start
	wake  chan struct{} // closed (and replaced) on every new line or state change
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		containers: map[string]*fakeContainer{},
		subscribed: make(chan struct{}),
		failLogs:   map[string]error{},
		errs:       make(chan error, 1),
	}
}

// labels are the Compose labels of replica n of service in project.
func labels(project, service string, n int) map[string]string {
	return map[string]string{
		runtime.LabelProject:         project,
		runtime.LabelService:         service,
		runtime.LabelContainerNumber: strconv.Itoa(n),
		runtime.LabelOneoff:          "False",
	}
}

// add creates a container of project "p" in state (running or created, exited…) with no
// output, and returns its ID. Adding announces nothing; start does.
func (e *fakeEngine) add(service string, n int, state string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := fmt.Sprintf("id-%s-%d", service, n)
	c := runtime.Container{ID: id, Name: fmt.Sprintf("p-%s-%d", service, n), Labels: labels("p", service, n), State: state}
	e.containers[id] = &fakeContainer{c: c, wake: make(chan struct{})}
	return id
}

// setRestart sets a container's restart policy, as inspect reports it.
func (e *fakeEngine) setRestart(id string, policy runtime.RestartPolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.containers[id].c.Restart = policy
}

// addOneoff creates a running `run` container of service.
func (e *fakeEngine) addOneoff(service string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := "id-run-" + service
	l := labels("p", service, 1)
	l[runtime.LabelOneoff] = "True"
	c := runtime.Container{ID: id, Name: "p-" + service + "-run-0123456789ab", Labels: l, State: runtime.StateRunning}
	e.containers[id] = &fakeContainer{c: c, wake: make(chan struct{})}
	return id
}

// emit appends lines to a container's output, stamped with the time now as an engine does,
// each strictly later than the one before.
func (e *fakeEngine) emit(id string, texts ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fc := e.containers[id]
	for _, text := range texts {
		e.clock = later(e.clock.Add(time.Nanosecond), time.Now().UTC())
		fc.lines = append(fc.lines, runtime.LogLine{Stream: runtime.Stdout, Time: e.clock, Text: text})
	}
	fc.notify()
}

// emitAt appends lines that all carry one timestamp, as a burst can.
func (e *fakeEngine) emitAt(id string, at time.Time, texts ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fc := e.containers[id]
	for _, text := range texts {
		fc.lines = append(fc.lines, runtime.LogLine{Stream: runtime.Stdout, Time: at, Text: text})
	}
	if at.After(e.clock) {
		e.clock = at
	}
	fc.notify()
}

// start runs a container (again) and announces it.
func (e *fakeEngine) start(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fc := e.containers[id]
	fc.c.State = runtime.StateRunning
	fc.run++
	fc.notify()
	e.publish(runtime.Event{Action: "start", Container: id, Name: fc.c.Name, Labels: fc.c.Labels})
}

// die stops a container with code; restarting leaves it in the restarting state, as the
// engine does when a restart policy applies, before the die event goes out.
func (e *fakeEngine) die(id string, code int, restarting bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fc := e.containers[id]
	fc.c.State, fc.c.ExitCode = runtime.StateExited, code
	if restarting {
		fc.c.State = runtime.StateRestarting
	}
	fc.notify()
	e.publish(runtime.Event{Action: "die", Container: id, Name: fc.c.Name, Labels: fc.c.Labels, ExitCode: code})
}

func (fc *fakeContainer) notify() {
	close(fc.wake)
	fc.wake = make(chan struct{})
}

func (e *fakeEngine) publish(ev runtime.Event) {
	for _, s := range e.subs {
		s <- ev
	}
}

func (e *fakeEngine) ListContainers(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var cs []runtime.Container
	for _, fc := range e.containers {
		if fc.c.Labels[runtime.LabelProject] == opts.Project && (opts.All || fc.c.State == runtime.StateRunning) {
			cs = append(cs, fc.c)
		}
	}
	return cs, nil
}

func (e *fakeEngine) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fc, ok := e.containers[id]
	if !ok {
		return runtime.Container{}, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return fc.c, nil
}

func (e *fakeEngine) Logs(ctx context.Context, id string, opts runtime.LogOptions, sink func(runtime.LogLine)) error {
	e.mu.Lock()
	e.logCalls = append(e.logCalls, opts)
	if err := e.failLogs[id]; err != nil {
		e.mu.Unlock()
		return err
	}
	fc := e.containers[id]
	since := opts.Since
	if e.coarseSince {
		since = since.Truncate(time.Second)
	}
	var backlog []runtime.LogLine
	for _, l := range fc.lines {
		if l.Time.Before(since) || (!opts.Until.IsZero() && l.Time.After(opts.Until)) {
			continue
		}
		backlog = append(backlog, l)
	}
	if opts.Tail >= 0 && opts.Tail < len(backlog) {
		backlog = backlog[len(backlog)-opts.Tail:]
	}
	next := len(fc.lines)
	run, following := fc.run, opts.Follow && fc.c.State == runtime.StateRunning
	e.mu.Unlock()

	for _, l := range backlog {
		sink(l)
	}
	for following {
		e.mu.Lock()
		fresh := slices.Clone(fc.lines[next:])
		next = len(fc.lines)
		following = fc.c.State == runtime.StateRunning && fc.run == run
		wake := fc.wake
		e.mu.Unlock()
		for _, l := range fresh {
			sink(l)
		}
		if !following {
			break
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (e *fakeEngine) Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Buffered so that publishing under mu never waits on the reader.
	ch := make(chan runtime.Event, 1000)
	e.subs = append(e.subs, ch)
	if len(e.subs) == 1 {
		close(e.subscribed)
	}
	return ch, e.errs
}

// endEvents ends every event subscription as an engine does when it goes away: the reason,
// if any, on the error channel, then both channels closed.
func (e *fakeEngine) endEvents(reason error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		close(s)
	}
	if reason != nil {
		e.errs <- reason
	}
	close(e.errs)
}

// waitLogCalls waits until Logs has been called n times: streams Follow started are open.
func (e *fakeEngine) waitLogCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		calls := len(e.logCalls)
		e.mu.Unlock()
		if calls >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Logs was called %d times, want %d", calls, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is an io.Writer whose content tests may read while Follow writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// waitFor waits until the output holds want, and fails the test after a few seconds.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never held %q; it is:\n%s", want, out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// byName splits prefixed output into each name's lines, in order.
func byName(out string) map[string][]string {
	m := map[string][]string{}
	for line := range strings.Lines(out) {
		name, text, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " | ")
		if !ok {
			name, text = "status", line[:len(line)-1]
		}
		m[strings.TrimSpace(name)] = append(m[strings.TrimSpace(name)], text)
	}
	return m
}

var errBoom = errors.New("boom")
