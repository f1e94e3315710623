package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// eventsRuntime adds Events to fakeRuntime: every subscription reads the same channels.
type eventsRuntime struct {
	*fakeRuntime
	events chan runtime.Event
	errs   chan error
}

func (e *eventsRuntime) Events(context.Context, string) (<-chan runtime.Event, <-chan error) {
	return e.events, e.errs
}

func testEvent(action, service string) runtime.Event {
	c := container("demo", service, 1, runtime.StateRunning)
	return runtime.Event{Time: time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC), Action: action, Container: c.ID,
		Name: c.Name, Labels: c.Labels}
}

func TestFormatEvent(t *testing.T) {
	die := testEvent("die", "web")
	die.ExitCode = 137
	health := testEvent("health_status", "db")
	health.Health = runtime.HealthUnhealthy
	for _, tt := range []struct {
		ev   runtime.Event
		want string
	}{
		{testEvent("start", "web"), "2024-01-02T03:04:05.0000006Z container start id-demo-web-1 (name=demo-web-1, service=web)"},
		{die, "2024-01-02T03:04:05.0000006Z container die id-demo-web-1 (name=demo-web-1, service=web, exitCode=137)"},
		{health, "2024-01-02T03:04:05.0000006Z container health_status id-demo-db-1 (name=demo-db-1, service=db, health=unhealthy)"},
	} {
		if got := formatEvent(tt.ev); got != tt.want {
			t.Errorf("formatEvent(%s) =\n%s\nwant\n%s", tt.ev.Action, got, tt.want)
		}
	}
}

func TestStreamEvents(t *testing.T) {
	web := container("demo", "web", 1, runtime.StateRunning)
	web.Image = "busybox:latest"
	newRuntime := func() *eventsRuntime {
		return &eventsRuntime{fakeRuntime: &fakeRuntime{containers: []runtime.Container{web}},
			events: make(chan runtime.Event, 10), errs: make(chan error, 1)}
	}

	t.Run("JSON lines of the named services until the stream ends", func(t *testing.T) {
		rt := newRuntime()
		die := testEvent("die", "web")
		die.ExitCode = 3
		rt.events <- testEvent("start", "web")
		rt.events <- testEvent("start", "db")
		rt.events <- die
		close(rt.events)
		close(rt.errs)
		var out bytes.Buffer
		if err := streamEvents(context.Background(), rt, &out, "demo", []string{"web"}, true); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("got %d lines, want the 2 of web:\n%s", len(lines), out.String())
		}
		var got []eventJSON
		for _, l := range lines {
			var ev eventJSON
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			got = append(got, ev)
		}
		if got[0].Type != "container" || got[0].Action != "start" || got[0].ID != web.ID || got[0].Service != "web" ||
			got[0].Attributes["name"] != web.Name || got[0].Attributes["image"] != "busybox:latest" || !got[0].Time.Equal(die.Time) {
			t.Errorf("start event %+v", got[0])
		}
		if _, ok := got[0].Attributes["exitCode"]; ok {
			t.Errorf("start event has an exitCode: %+v", got[0])
		}
		if got[1].Action != "die" || got[1].Attributes["exitCode"] != "3" {
			t.Errorf("die event %+v", got[1])
		}
	})
	t.Run("the end of ctx is no error", func(t *testing.T) {
		rt := newRuntime()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := streamEvents(ctx, rt, &bytes.Buffer{}, "demo", nil, false); err != nil {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a failed stream is an error", func(t *testing.T) {
		rt := newRuntime()
		rt.errs <- errors.New("connection lost")
		err := streamEvents(context.Background(), rt, &bytes.Buffer{}, "demo", nil, false)
		if err == nil || err.Error() != "watch events of project demo: connection lost" {
			t.Errorf("err = %v", err)
		}
	})
}
