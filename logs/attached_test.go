package logs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// A stream is drained as soon as it is added, whether or not anyone reads it yet: a container
// must not block on its output while up waits for it. Take then passes on every line in order.
func TestAttachedDrainsBeforeTake(t *testing.T) {
	a := NewAttached()
	ended := make(chan struct{})
	a.Add(context.Background(), "c1", func(sink func(runtime.LogLine)) error {
		defer close(ended)
		for i := range 10000 {
			sink(runtime.LogLine{Stream: runtime.Stdout, Text: strconv.Itoa(i)})
		}
		return errBoom
	})
	select {
	case <-ended: // the whole output was taken in with nobody reading
	case <-time.After(10 * time.Second):
		t.Fatal("the stream blocked before anyone read it")
	}
	read, ok := a.Take("c1")
	if !ok {
		t.Fatal("no stream for c1")
	}
	if _, again := a.Take("c1"); again {
		t.Error("a stream was handed over twice")
	}
	var got []string
	err := read(context.Background(), func(l runtime.LogLine) { got = append(got, l.Text) })
	if !errors.Is(err, errBoom) {
		t.Errorf("read returned %v, want the stream's error", err)
	}
	if len(got) != 10000 || got[0] != "0" || got[9999] != "9999" {
		t.Fatalf("got %d lines (%v…)", len(got), got[:min(3, len(got))])
	}
	for i, s := range got {
		if s != strconv.Itoa(i) {
			t.Fatalf("line %d is %q", i, s)
		}
	}
}

// Lines that come after Take reach the reader as they come; the end of the reader's ctx ends
// the read.
func TestAttachedPassesLiveLinesAndStopsWithCtx(t *testing.T) {
	a := NewAttached()
	lines := make(chan string)
	a.Add(context.Background(), "c1", func(sink func(runtime.LogLine)) error {
		for s := range lines {
			sink(runtime.LogLine{Text: s})
		}
		return nil
	})
	read, _ := a.Take("c1")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() { done <- read(ctx, func(l runtime.LogLine) { got <- l.Text }) }()
	lines <- "one"
	if s := <-got; s != "one" {
		t.Fatalf("got %q", s)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("read after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read did not end with its ctx")
	}
	close(lines)
	if _, ok := (*Attached)(nil).Take("x"); ok {
		t.Error("a nil Attached handed over a stream")
	}
}

// Follow reads a container's attached stream instead of its logs, and reports its exit after
// its last line.
func TestFollowReadsAttachedStream(t *testing.T) {
	e := newFakeEngine()
	web := e.add("web", 1, runtime.StateRunning)
	e.emit(web, "from the log file") // what Logs would give: must not be printed
	a := NewAttached()
	a.Add(context.Background(), web, func(sink func(runtime.LogLine)) error {
		sink(runtime.LogLine{Stream: runtime.Stdout, Text: "attached 1", Time: time.Now()})
		sink(runtime.LogLine{Stream: runtime.Stdout, Text: "attached 2", Time: time.Now()})
		return nil
	})
	f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond,
		Attached: a.Take}, Options{Prefix: true})
	waitFor(t, f.out, "web-1  | attached 2\n")
	e.die(web, 0, false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	out := f.out.String()
	if strings.Contains(out, "from the log file") {
		t.Errorf("the log file was read too:\n%s", out)
	}
	if want := "web-1  | attached 1\nweb-1  | attached 2\nweb-1 exited with code 0\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// When a container restarts after its attached stream, the follower reads the new run from
// the log. The attached lines carry the time comp read them, which can come before the time
// the engine's log gives the same line (the engine timestamps the log copy separately): the
// log must still not print the attached lines again.
func TestFollowResumesAfterAnAttachedStreamWithoutRepeating(t *testing.T) {
	e := newFakeEngine()
	web := e.add("web", 1, runtime.StateRunning)
	read := time.Now().UTC()
	e.emitAt(web, read.Add(50*time.Millisecond), "attempt 1") // logged after comp read it
	ended := make(chan struct{})
	a := NewAttached()
	a.Add(context.Background(), web, func(sink func(runtime.LogLine)) error {
		sink(runtime.LogLine{Stream: runtime.Stdout, Text: "attempt 1", Time: read})
		<-ended // the engine ends an attach when the run ends
		return nil
	})
	f := startFollow(t, e, FollowOptions{Tail: TailAll, UntilAllExit: true, ExitGrace: 10 * time.Millisecond,
		Attached: a.Take}, Options{Prefix: true})
	waitFor(t, f.out, "web-1  | attempt 1\n")
	e.die(web, 1, true)
	e.start(web)
	close(ended)
	waitFor(t, f.out, "web-1 exited with code 1 (restarting)\n")
	e.emit(web, "attempt 2")
	waitFor(t, f.out, "web-1  | attempt 2\n")
	e.die(web, 1, false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	want := "web-1  | attempt 1\nweb-1 exited with code 1 (restarting)\nweb-1  | attempt 2\nweb-1 exited with code 1\n"
	if out := f.out.String(); out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}
