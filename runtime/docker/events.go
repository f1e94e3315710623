package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/comp-dev/comp/runtime"
)

// Events streams the container events of project ("" for every project comp knows) until ctx
// ends. The subscription is active when Events returns. The error channel receives at most one
// error and is then closed; when ctx ends both channels are closed without an error.
func (r *Runtime) Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error) {
	f := labelFilters(project, nil)
	f.Add("type", string(events.ContainerEventType))
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: f})

	out := make(chan runtime.Event)
	outErr := make(chan error, 1)
	go func() {
		defer close(out)
		defer close(outErr)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					outErr <- fmt.Errorf("watch events: %w", classify(err))
				}
				return
			case m := <-msgs:
				select {
				case out <- eventFromMessage(m):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, outErr
}

// Attributes of container events that are not the container's labels.
var eventAttributes = map[string]bool{
	"name": true, "image": true, "exitCode": true, "signal": true, "execID": true,
}

// eventFromMessage converts an engine event. Actions with a detail ("exec_start: sh -c …",
// "health_status: healthy") are cut at the colon; a health status goes to Health.
func eventFromMessage(m events.Message) runtime.Event {
	ev := runtime.Event{
		Action:    string(m.Action),
		Container: m.Actor.ID,
		Name:      m.Actor.Attributes["name"],
	}
	if m.TimeNano != 0 {
		ev.Time = time.Unix(0, m.TimeNano)
	} else {
		ev.Time = time.Unix(m.Time, 0)
	}
	if action, detail, ok := strings.Cut(ev.Action, ":"); ok {
		ev.Action = action
		if action == "health_status" {
			ev.Health = strings.TrimSpace(detail)
		}
	}
	if code, ok := m.Actor.Attributes["exitCode"]; ok {
		ev.ExitCode, _ = strconv.Atoi(code)
	}
	for k, v := range m.Actor.Attributes {
		if eventAttributes[k] {
			continue
		}
		if ev.Labels == nil {
			ev.Labels = make(map[string]string)
		}
		ev.Labels[k] = v
	}
	return ev
}
