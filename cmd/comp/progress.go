package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"

	"github.com/comp-dev/comp/reconcile"
)

// progressWriter renders reconcile events on stderr in the --progress mode: plain lines (one per
// event), a live view that redraws one line per object (tty), JSON lines, or nothing (quiet).
type progressWriter struct {
	mode  string
	out   io.Writer
	color bool

	mu      sync.Mutex
	order   []string
	last    map[string]reconcile.Event
	drawn   int
	started time.Time
	title   string
}

// newProgress picks the renderer for the global --progress flag ("auto": live on a TTY).
func (g *globalOptions) newProgress(title string) *progressWriter {
	mode := g.progress
	if mode == "auto" {
		mode = "plain"
		if g.streams.ErrTTY {
			mode = "tty"
		}
	}
	return &progressWriter{mode: mode, out: g.streams.Err, color: g.streams.ColorErr(),
		last: map[string]reconcile.Event{}, started: time.Now(), title: title}
}

// Event is a reconcile.Progress.
func (w *progressWriter) Event(e reconcile.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.mode {
	case "quiet":
		return
	case "json":
		b, _ := json.Marshal(map[string]any{"id": e.ID(), "status": e.Status, "text": e.Detail,
			"error": e.State == reconcile.Error, "done": e.State != reconcile.Working})
		fmt.Fprintln(w.out, string(b))
		return
	case "tty":
		if _, ok := w.last[e.ID()]; !ok {
			w.order = append(w.order, e.ID())
		}
		w.last[e.ID()] = e
		w.redraw()
		return
	}
	line := fmt.Sprintf(" %s  %s", e.ID(), e.Status)
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	if e.State == reconcile.Error && w.color {
		line = color.RedString(line)
	}
	fmt.Fprintln(w.out, line)
}

// Warn prints a warning line in every mode but quiet.
func (w *progressWriter) Warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mode == "quiet" {
		return
	}
	if w.color {
		fmt.Fprintln(w.out, color.YellowString("WARN[0000] ")+msg)
		return
	}
	fmt.Fprintln(w.out, "WARN[0000] "+msg)
}

func (w *progressWriter) redraw() {
	var b strings.Builder
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dA", w.drawn)
	}
	done := 0
	for _, id := range w.order {
		if w.last[id].State != reconcile.Working {
			done++
		}
	}
	fmt.Fprintf(&b, "\033[2K[+] %s %d/%d\n", w.title, done, len(w.order))
	for _, id := range w.order {
		e := w.last[id]
		mark := "⠿"
		switch e.State {
		case reconcile.Done:
			mark = "✔"
		case reconcile.Warning:
			mark = "!"
		case reconcile.Error:
			mark = "✘"
		}
		text := e.Status
		if e.Detail != "" {
			text += " (" + e.Detail + ")"
		}
		line := fmt.Sprintf(" %s %s  %s", mark, id, text)
		if w.color {
			switch e.State {
			case reconcile.Done:
				line = color.GreenString(line)
			case reconcile.Error:
				line = color.RedString(line)
			case reconcile.Warning:
				line = color.YellowString(line)
			}
		}
		fmt.Fprintf(&b, "\033[2K%s\n", line)
	}
	w.drawn = len(w.order) + 1
	io.WriteString(w.out, b.String())
}
