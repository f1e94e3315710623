package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// fakeEventsServer answers one OpEvents connection on project p's socket in layout: it calls
// beforeAck, sends the acknowledgment unless ack is false, then the events.
func fakeEventsServer(t *testing.T, layout state.Layout, ack bool, beforeAck func(), events ...runtime.Event) {
	t.Helper()
	sock := layout.Socket("p")
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// It speaks this build's protocol: the client need not ask (see verify).
	verified.Store(sock, true)
	t.Cleanup(func() { verified.Delete(sock) })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req Request
		if json.NewDecoder(bufio.NewReader(conn)).Decode(&req) != nil || req.Op != OpEvents {
			return
		}
		enc := json.NewEncoder(conn)
		beforeAck()
		if ack {
			_ = enc.Encode(runtime.Event{Action: eventsSubscribed})
		}
		for _, ev := range events {
			_ = enc.Encode(ev)
		}
		_, _ = conn.Read(make([]byte, 1)) // until the client hangs up
	}()
}

// Events returns only once the supervisor has subscribed the client: a follower lists the
// containers next, and must not miss the death of one that dies in between.
func TestEventsReturnsOnceSubscribed(t *testing.T) {
	layout := state.LayoutAt(t.TempDir())
	var subscribed atomic.Bool
	die := runtime.Event{Action: "die", Container: "c1", Labels: map[string]string{"a": "1"}}
	start := runtime.Event{Action: "start", Container: "c2"}
	fakeEventsServer(t, layout, true, func() { subscribed.Store(true) }, die, start)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := NewClient(layout, "p").Events(ctx)
	if !subscribed.Load() {
		t.Fatal("Events returned before the supervisor acknowledged the subscription")
	}
	for _, want := range []runtime.Event{die, start} {
		select {
		case ev := <-events:
			if ev.Action != want.Action || ev.Container != want.Container || len(ev.Labels) != len(want.Labels) {
				t.Fatalf("event %+v, want %+v (the acknowledgment is not an event)", ev, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want.Action)
		}
	}
}

// A supervisor of an older comp sends no acknowledgment: Events waits subscribeTimeout, then
// streams its events all the same.
func TestEventsWithoutAcknowledgment(t *testing.T) {
	defer func(d time.Duration) { subscribeTimeout = d }(subscribeTimeout)
	subscribeTimeout = 50 * time.Millisecond
	layout := state.LayoutAt(t.TempDir())
	release := make(chan struct{})
	fakeEventsServer(t, layout, false, func() { <-release }, runtime.Event{Action: "die", Container: "c1"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, errs := NewClient(layout, "p").Events(ctx)
	close(release)
	select {
	case ev := <-events:
		if ev.Action != "die" || ev.Container != "c1" {
			t.Fatalf("event %+v, want the die of c1", ev)
		}
	case err := <-errs:
		t.Fatalf("events failed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}
