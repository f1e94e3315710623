package logs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

func TestFollowWithoutFollowPrintsWhatThereIs(t *testing.T) {
	tests := []struct {
		name string
		opts FollowOptions
		want map[string][]string
	}{
		{
			name: "prints every container's output, stopped ones too",
			opts: FollowOptions{Project: "p", Tail: TailAll},
			want: map[string][]string{"web-1": {"w1", "w2", "w3"}, "web-2": {"x1"}, "db-1": {"d1", "d2"}},
		},
		{
			name: "prints only the last lines with tail",
			opts: FollowOptions{Project: "p", Tail: 1},
			want: map[string][]string{"web-1": {"w3"}, "web-2": {"x1"}, "db-1": {"d2"}},
		},
		{
			name: "prints only the services asked for",
			opts: FollowOptions{Project: "p", Tail: TailAll, Services: []string{"db"}},
			want: map[string][]string{"db-1": {"d1", "d2"}},
		},
		{
			name: "prints nothing of another project",
			opts: FollowOptions{Project: "other", Tail: TailAll},
			want: map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			web1, web2, db := e.add("web", 1, runtime.StateRunning), e.add("web", 2, runtime.StateRunning), e.add("db", 1, runtime.StateExited)
			run := e.addOneoff("web")
			e.emit(web1, "w1", "w2", "w3")
			e.emit(web2, "x1")
			e.emit(db, "d1", "d2")
			e.emit(run, "one-off output")

			var out syncBuffer
			if err := Follow(context.Background(), e, tt.opts, NewPrinter(&out, Options{Prefix: true})); err != nil {
				t.Fatal(err)
			}
			if got := byName(out.String()); !equalLines(got, tt.want) {
				t.Errorf("got %v, want %v\n%s", got, tt.want, out.String())
			}
		})
	}
}

func TestFollowWithoutFollowAlignsAndColorsInServiceOrder(t *testing.T) {
	e := newFakeEngine()
	// Added out of order: the output must not depend on the engine's listing order.
	for _, c := range []struct {
		service string
		n       int
	}{{"web", 10}, {"web", 2}, {"db", 1}} {
		e.emit(e.add(c.service, c.n, runtime.StateRunning), "hi")
	}
	var out syncBuffer
	p := NewPrinter(&out, Options{Prefix: true, Color: true})
	if err := Follow(context.Background(), e, FollowOptions{Project: "p", Tail: TailAll}, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\x1b[36mdb-1    | \x1b[0mhi\n", "\x1b[33mweb-2   | \x1b[0mhi\n", "\x1b[32mweb-10  | \x1b[0mhi\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%q", want, out.String())
		}
	}
}

func TestFollowWithoutFollowReportsAFailingStreamAndPrintsTheOthers(t *testing.T) {
	e := newFakeEngine()
	web, db := e.add("web", 1, runtime.StateRunning), e.add("db", 1, runtime.StateRunning)
	e.emit(web, "still here")
	e.failLogs[db] = errBoom
	var out syncBuffer
	err := Follow(context.Background(), e, FollowOptions{Project: "p", Tail: TailAll}, NewPrinter(&out, Options{Prefix: true}))
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "db-1") {
		t.Errorf("got error %v, want one naming db-1 and wrapping %v", err, errBoom)
	}
	if !strings.Contains(out.String(), "web-1  | still here\n") {
		t.Errorf("the other container's output is missing:\n%s", out.String())
	}
}

// following is one Follow running in the background against a fake engine.
type following struct {
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startFollow runs Follow with opts (Follow set) and waits until it listens to events.
func startFollow(t *testing.T, e *fakeEngine, opts FollowOptions, popts Options) *following {
	t.Helper()
	f := &following{out: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	p := NewPrinter(f.out, popts)
	opts.Follow, opts.Project = true, "p"
	if opts.OnExit == nil {
		opts.OnExit = p.Exited
	}
	go func() { f.done <- Follow(ctx, e, opts, p) }()
	select {
	case <-e.subscribed:
	case err := <-f.done:
		t.Fatalf("Follow returned before it listened to events: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Follow never listened to events")
	}
	return f
}

// stop cancels Follow, which must then return nil, and returns its output by name.
func (f *following) stop(t *testing.T) map[string][]string {
	t.Helper()
	f.cancel()
	if err := f.wait(t); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	return byName(f.out.String())
}

// wait waits for Follow to return.
func (f *following) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Follow did not return; output:\n%s", f.out.String())
		return nil
	}
}

// returned tells whether Follow has returned, without waiting.
func (f *following) returned() bool {
	select {
	case err := <-f.done:
		f.done <- err
		return true
	default:
		return false
	}
}

func TestFollowPrintsNewOutput(t *testing.T) {
	e := newFakeEngine()
	web := e.add("web", 1, runtime.StateRunning)
	// Silent, but its name sets the width from the first line on: no re-padding mid-way.
	e.add("worker", 10, runtime.StateRunning)
	e.emit(web, "before")
	f := startFollow(t, e, FollowOptions{Tail: TailAll}, Options{Prefix: true})
	waitFor(t, f.out, "web-1      | before\n")
	e.emit(web, "after")
	waitFor(t, f.out, "web-1      | after\n")
	want := map[string][]string{"web-1": {"before", "after"}}
	if got := f.stop(t); !equalLines(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFollowPicksUpContainersStartedLater(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *fakeEngine) string // adds the late container, returns its ID
		shown string
	}{
		{"a new replica of a scale-up", func(e *fakeEngine) string { return e.add("web", 2, runtime.StateCreated) }, "web-2"},
		{"a container of another service", func(e *fakeEngine) string { return e.add("worker", 1, runtime.StateCreated) }, "worker-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			web := e.add("web", 1, runtime.StateRunning)
			e.emit(web, "w")
			f := startFollow(t, e, FollowOptions{Tail: TailAll}, Options{Prefix: true})
			late := tt.setup(e)
			e.emit(late, "early output, before the start event is seen")
			e.start(late)
			e.emit(late, "hello")
			waitFor(t, f.out, " | hello\n")
			want := map[string][]string{"web-1": {"w"}, tt.shown: {"early output, before the start event is seen", "hello"}}
			if got := f.stop(t); !equalLines(got, want) {
				t.Errorf("got %v, want %v\n%s", got, want, f.out.String())
			}
		})
	}
}

func TestFollowPicksUpAContainerCreatedBeforeAndStartedAfter(t *testing.T) {
	e := newFakeEngine()
	db := e.add("db", 1, runtime.StateCreated)
	f := startFollow(t, e, FollowOptions{Tail: 0}, Options{Prefix: true})
	e.waitLogCalls(t, 1)
	e.start(db)
	e.emit(db, "ready")
	waitFor(t, f.out, "db-1  | ready\n")
	want := map[string][]string{"db-1": {"ready"}}
	if got := f.stop(t); !equalLines(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFollowFollowsRestartsWithoutRepeatingOrLosingLines(t *testing.T) {
	tests := []struct {
		name string
		// coarseSince makes the engine round Since down to the second, so it sends again
		// lines Follow already printed.
		coarseSince bool
		tail        int
		before      []string // output before Follow began
		during      []string // output after Follow began, before the first restart
		want        []string
	}{
		{name: "prints each line once", tail: TailAll, before: []string{"a", "b"}, during: []string{"during"}, want: []string{"a", "b", "during", "c", "d"}},
		{name: "prints each line once when the engine's since is coarse", coarseSince: true, tail: TailAll, before: []string{"a", "b"}, during: []string{"during"}, want: []string{"a", "b", "during", "c", "d"}},
		{name: "with tail keeps the rest of the history out", tail: 1, before: []string{"a", "b"}, during: []string{"during"}, want: []string{"b", "during", "c", "d"}},
		{name: "with tail 0 prints only what came after Follow began", tail: 0, coarseSince: true, before: []string{"a", "b"}, during: []string{"during"}, want: []string{"during", "c", "d"}},
		{name: "with tail 0 and no new output a restart does not bring back the history", tail: 0, before: []string{"a", "b"}, want: []string{"c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			e.coarseSince = tt.coarseSince
			web := e.add("web", 1, runtime.StateRunning)
			e.emit(web, tt.before...)
			time.Sleep(time.Millisecond) // the history is older than Follow, as it would be
			f := startFollow(t, e, FollowOptions{Tail: tt.tail}, Options{Prefix: true})
			e.waitLogCalls(t, 1)
			for _, text := range tt.during {
				e.emit(web, text)
				waitFor(t, f.out, "web-1  | "+text+"\n")
			}

			e.die(web, 1, true)
			waitFor(t, f.out, "web-1 exited with code 1 (restarting)\n")
			e.start(web)
			e.emit(web, "c")
			waitFor(t, f.out, "web-1  | c\n")

			// A second restart, this time with the stream still open when the events arrive.
			e.die(web, 2, true)
			e.start(web)
			e.emit(web, "d")
			waitFor(t, f.out, "web-1  | d\n")
			waitFor(t, f.out, "web-1 exited with code 2 (restarting)\n")

			got := f.stop(t)
			if !slices.Equal(got["web-1"], tt.want) {
				t.Errorf("got %q, want %q\n%s", got["web-1"], tt.want, f.out.String())
			}
			if want := []string{"web-1 exited with code 1 (restarting)", "web-1 exited with code 2 (restarting)"}; !slices.Equal(got["status"], want) {
				t.Errorf("status lines: got %q, want %q", got["status"], want)
			}
		})
	}
}

func TestFollowResumesExactlyInABurstOfEqualTimestamps(t *testing.T) {
	e := newFakeEngine()
	e.coarseSince = true
	web := e.add("web", 1, runtime.StateRunning)
	burst := time.Now().UTC().Truncate(time.Second).Add(600 * time.Millisecond)
	e.emitAt(web, burst.Add(-500*time.Millisecond), "older")
	e.emitAt(web, burst, "a", "b")
	f := startFollow(t, e, FollowOptions{Tail: TailAll}, Options{Prefix: true})
	waitFor(t, f.out, "web-1  | b\n")
	e.die(web, 0, true)
	waitFor(t, f.out, "exited with code 0")
	e.start(web)
	// Lines of the new run that share the burst's timestamp are new and must print.
	e.emitAt(web, burst, "c")
	e.emitAt(web, burst.Add(time.Millisecond), "d")
	waitFor(t, f.out, "web-1  | d\n")
	want := []string{"older", "a", "b", "c", "d"}
	if got := f.stop(t); !slices.Equal(got["web-1"], want) {
		t.Errorf("got %q, want %q", got["web-1"], want)
	}
}

func TestFollowIgnoresWhatItWasNotAskedFor(t *testing.T) {
	e := newFakeEngine()
	web := e.add("web", 1, runtime.StateRunning)
	db := e.add("db", 1, runtime.StateRunning)
	e.emit(db, "db history")
	f := startFollow(t, e, FollowOptions{Tail: TailAll, Services: []string{"web"}}, Options{Prefix: true})

	db2 := e.add("db", 2, runtime.StateCreated)
	e.start(db2)
	e.emit(db2, "another service")
	run := e.addOneoff("web")
	e.start(run)
	e.emit(run, "a one-off")
	e.emit(web, "web output")
	// The die is announced after the starts above, so once its status line is out the starts
	// have been seen (and ignored).
	e.die(web, 0, false)
	waitFor(t, f.out, "web-1 exited with code 0\n")
	time.Sleep(20 * time.Millisecond)

	want := map[string][]string{"web-1": {"web output"}, "status": {"web-1 exited with code 0"}}
	if got := f.stop(t); !equalLines(got, want) {
		t.Errorf("got %v, want %v\n%s", got, want, f.out.String())
	}
}

func TestFollowUntilAllExit(t *testing.T) {
	t.Run("returns once every container has exited, after their last lines", func(t *testing.T) {
		e := newFakeEngine()
		web, db := e.add("web", 1, runtime.StateRunning), e.add("db", 1, runtime.StateRunning)
		f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond}, Options{Prefix: true})
		e.emit(web, "web bye")
		e.die(web, 0, false)
		waitFor(t, f.out, "web-1 exited with code 0\n")
		if f.returned() {
			t.Fatal("Follow returned while db-1 still runs")
		}
		e.emit(db, "db bye")
		e.die(db, 3, false)
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		out := f.out.String()
		for _, pair := range [][2]string{{"web-1  | web bye", "web-1 exited with code 0"}, {"db-1   | db bye", "db-1 exited with code 3"}} {
			last, status := strings.Index(out, pair[0]), strings.Index(out, pair[1])
			if last < 0 || status < last {
				t.Errorf("want %q, then %q; output:\n%s", pair[0], pair[1], out)
			}
		}
	})

	t.Run("waits for a container its restart policy brings back", func(t *testing.T) {
		e := newFakeEngine()
		web := e.add("web", 1, runtime.StateRunning)
		f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond}, Options{Prefix: true})
		e.die(web, 1, true)
		waitFor(t, f.out, "web-1 exited with code 1 (restarting)\n")
		time.Sleep(50 * time.Millisecond)
		if f.returned() {
			t.Fatal("Follow returned while web-1 was restarting")
		}
		e.start(web)
		e.emit(web, "second run")
		e.die(web, 0, false)
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.out.String(), "web-1  | second run\nweb-1 exited with code 0\n") {
			t.Errorf("output:\n%s", f.out.String())
		}
	})

	t.Run("waits for a created container to start", func(t *testing.T) {
		e := newFakeEngine()
		web := e.add("web", 1, runtime.StateCreated)
		f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond}, Options{Prefix: true})
		time.Sleep(50 * time.Millisecond)
		if f.returned() {
			t.Fatal("Follow returned before web-1 ever ran")
		}
		e.start(web)
		e.emit(web, "ran")
		e.die(web, 0, false)
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.out.String(), "web-1  | ran\n") {
			t.Errorf("output:\n%s", f.out.String())
		}
	})

	t.Run("returns at once when nothing runs", func(t *testing.T) {
		e := newFakeEngine()
		e.emit(e.add("web", 1, runtime.StateExited), "old")
		f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond}, Options{Prefix: true})
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		if got, want := f.out.String(), "web-1  | old\n"; got != want {
			t.Errorf("got %q, want %q (no status line for an exit that happened before)", got, want)
		}
	})
}

// With EndAtLastExit, once every container has exited, had its exit reported, and cannot be
// brought back by its restart policy, Follow returns at once: with the grace set to an hour,
// only that can end it.
func TestFollowUntilAllExitNeedsNoGraceWithoutRestartPolicy(t *testing.T) {
	for _, policy := range []runtime.RestartPolicy{{Name: "no"}, {Name: "on-failure", MaxRetries: 3}} {
		t.Run(policy.Name, func(t *testing.T) {
			e := newFakeEngine()
			web := e.add("web", 1, runtime.StateRunning)
			e.setRestart(web, policy)
			f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, EndAtLastExit: true, ExitGrace: time.Hour}, Options{Prefix: true})
			e.emit(web, "bye")
			e.die(web, 0, false) // on-failure does not restart a container that succeeded
			if err := f.wait(t); err != nil {
				t.Fatal(err)
			}
			if got, want := f.out.String(), "web-1  | bye\nweb-1 exited with code 0\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("a policy that may restart waits", func(t *testing.T) {
		e := newFakeEngine()
		web := e.add("web", 1, runtime.StateRunning)
		e.setRestart(web, runtime.RestartPolicy{Name: "on-failure"})
		f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, EndAtLastExit: true, ExitGrace: time.Hour}, Options{Prefix: true})
		e.die(web, 1, false) // on-failure may bring it back: the engine has not yet
		waitFor(t, f.out, "web-1 exited with code 1\n")
		time.Sleep(50 * time.Millisecond)
		if f.returned() {
			t.Fatal("Follow returned while web-1's restart policy may bring it back")
		}
		f.cancel()
	})
}

func TestFollowReportsEarlierExitsWhenAsked(t *testing.T) {
	e := newFakeEngine()
	c := e.add("web", 1, runtime.StateExited)
	e.emit(c, "quick")
	f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ReportEarlierExits: true,
		ExitGrace: 10 * time.Millisecond}, Options{Prefix: true})
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got, want := f.out.String(), "web-1  | quick\nweb-1 exited with code 0\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFollowReportsAnEarlierExitOnceWhenItsDieEventComesLate(t *testing.T) {
	e := newFakeEngine()
	c := e.add("web", 1, runtime.StateExited)
	e.emit(c, "quick")
	f := startFollow(t, e, FollowOptions{Tail: TailAll, Follow: true, UntilAllExit: true, ReportEarlierExits: true,
		ExitGrace: 200 * time.Millisecond}, Options{Prefix: true})
	e.die(c, 0, false) // the engine announces, after the listing, the exit the listing saw
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got, want := f.out.String(), "web-1  | quick\nweb-1 exited with code 0\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFollowKeepsGoingWhenOneStreamFails(t *testing.T) {
	e := newFakeEngine()
	web, db := e.add("web", 1, runtime.StateRunning), e.add("db", 1, runtime.StateRunning)
	e.failLogs[db] = errBoom
	failed := make(chan string, 1)
	f := startFollow(t, e, FollowOptions{Tail: TailAll, OnError: func(name string, err error) {
		if errors.Is(err, errBoom) {
			failed <- name
		}
	}}, Options{Prefix: true})
	select {
	case name := <-failed:
		if name != "db-1" {
			t.Errorf("OnError got %q, want db-1", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnError never heard of db-1's failure")
	}
	e.emit(web, "still following")
	waitFor(t, f.out, "web-1  | still following\n")
	f.stop(t)
}

func TestFollowReturnsFailuresJoinedWithoutOnError(t *testing.T) {
	e := newFakeEngine()
	web, db := e.add("web", 1, runtime.StateRunning), e.add("db", 1, runtime.StateRunning)
	e.failLogs[db] = errBoom
	f := startFollow(t, e, FollowOptions{Tail: TailAll}, Options{Prefix: true})
	e.emit(web, "x")
	waitFor(t, f.out, "web-1  | x\n")
	time.Sleep(20 * time.Millisecond)
	f.cancel()
	if err := f.wait(t); !errors.Is(err, errBoom) {
		t.Errorf("got %v, want db-1's failure", err)
	}
}

func TestFollowFailsWhenEventsEnd(t *testing.T) {
	tests := []struct {
		name   string
		reason error
		want   string
	}{
		{"with the engine's reason", errBoom, "watch events of project p: boom"},
		{"with no reason given", nil, "watch events of project p: the event stream ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			e.add("web", 1, runtime.StateRunning)
			f := startFollow(t, e, FollowOptions{Tail: TailAll}, Options{Prefix: true})
			e.endEvents(tt.reason)
			if err := f.wait(t); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// equalLines compares output by name, an absent name as an empty one.
func equalLines(got, want map[string][]string) bool {
	names := slices.Sorted(maps.Keys(got))
	for name := range want {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if !slices.Equal(got[name], want[name]) {
			return false
		}
	}
	return true
}
