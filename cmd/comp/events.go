package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
)

type eventsOptions struct {
	json bool
}

func newEventsCmd(g *globalOptions) *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS] [SERVICE...]",
		Short: "Receive real time events from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "Output events as a stream of json objects")
	return cmd
}

// runEvents prints the container events of the project (of services, when named) as they
// happen, until Ctrl-C.
func runEvents(ctx context.Context, g *globalOptions, o *eventsOptions, services []string) error {
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	// Ctrl-C is how one stops watching, not a failure.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	return streamEvents(ctx, rt, g.streams.Out, name, services, o.json)
}

// streamEvents writes the container events of project (of services, when any) to w, one line
// each, plain or JSON, until ctx ends (no error) or the stream fails.
func streamEvents(ctx context.Context, rt runtime.Runtime, w io.Writer, project string, services []string, asJSON bool) error {
	events, errs := rt.Events(ctx, project)
	// The image is not in every runtime's events: inspect once per container, and remember it
	// for the events (destroy) after which there is nothing left to inspect.
	images := map[string]string{}
	image := func(id string) string {
		if img, ok := images[id]; ok {
			return img
		}
		c, err := rt.InspectContainer(ctx, id)
		if err != nil {
			return ""
		}
		images[id] = c.Image
		return c.Image
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if ok && err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("watch events of project %s: %w", project, err)
			}
			errs = nil
			if events == nil {
				return nil
			}
		case ev, ok := <-events:
			if !ok {
				// Its reason, if any, comes on errs.
				events = nil
				if errs == nil {
					return nil
				}
				continue
			}
			if len(services) > 0 && !slices.Contains(services, ev.Labels[runtime.LabelService]) {
				continue
			}
			if ev.Time.IsZero() {
				ev.Time = time.Now()
			}
			var line string
			if asJSON {
				b, err := json.Marshal(newEventJSON(ev, image(ev.Container)))
				if err != nil {
					return err
				}
				line = string(b)
			} else {
				line = formatEvent(ev)
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
}

// formatEvent is one plain line of `comp events`:
// `<time> container <action> <id> (name=…, service=…[, exitCode=N][, health=…])`.
func formatEvent(ev runtime.Event) string {
	attrs := []string{"name=" + ev.Name, "service=" + ev.Labels[runtime.LabelService]}
	for _, kv := range extraAttributes(ev) {
		attrs = append(attrs, kv[0]+"="+kv[1])
	}
	return fmt.Sprintf("%s container %s %s (%s)", ev.Time.Format(time.RFC3339Nano), ev.Action, ev.Container, strings.Join(attrs, ", "))
}

// extraAttributes are the attributes an event has by its action: the exit code of a die, the
// status of a health_status.
func extraAttributes(ev runtime.Event) [][2]string {
	switch ev.Action {
	case "die":
		return [][2]string{{"exitCode", strconv.Itoa(ev.ExitCode)}}
	case "health_status":
		return [][2]string{{"health", ev.Health}}
	}
	return nil
}

// eventJSON is one line of `comp events --json`.
type eventJSON struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Service    string            `json:"service"`
	Attributes map[string]string `json:"attributes"`
}

func newEventJSON(ev runtime.Event, image string) eventJSON {
	attrs := map[string]string{"name": ev.Name, "image": image}
	for _, kv := range extraAttributes(ev) {
		attrs[kv[0]] = kv[1]
	}
	return eventJSON{
		Time:       ev.Time,
		Type:       "container",
		Action:     ev.Action,
		ID:         ev.Container,
		Service:    ev.Labels[runtime.LabelService],
		Attributes: attrs,
	}
}
