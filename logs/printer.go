// Package logs merges the output of many containers into one stream the way Docker Compose
// prints it (`web-1  | text`, one color per container), and follows a project's containers
// through restarts, recreates and scale-ups so that no line is lost or printed twice.
package logs

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/fatih/color"

	"github.com/comp-dev/comp/runtime"
)

// TimestampFormat is how Options.Timestamps prints a line's time (always in UTC), the format
// `docker compose logs -t` prints: fixed width, so columns stay aligned.
const TimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// palette is Compose's rainbow: five colors, then the same five intense ("36;1", as Compose
// writes them, which terminals show bright or bold), assigned in registration order.
var palette = []*color.Color{
	color.New(color.FgCyan),
	color.New(color.FgYellow),
	color.New(color.FgGreen),
	color.New(color.FgMagenta),
	color.New(color.FgBlue),
	color.New(color.FgCyan, color.Bold),
	color.New(color.FgYellow, color.Bold),
	color.New(color.FgGreen, color.Bold),
	color.New(color.FgMagenta, color.Bold),
	color.New(color.FgBlue, color.Bold),
}

func init() {
	// Whether to color is the Printer's decision (Options.Color), made once by the caller; the
	// library's own guess from the process's stdout and NO_COLOR must not override it.
	for _, c := range palette {
		c.EnableColor()
	}
}

// Options controls how a Printer formats lines. The caller decides Color once (--no-color,
// --ansi, NO_COLOR, whether stdout is a terminal); the Printer never looks at the terminal.
type Options struct {
	// Color colors each container's prefix and status lines.
	Color bool
	// Prefix prints `name | ` before each line; false is `--no-log-prefix`.
	Prefix bool
	// Timestamps prints each line's time (TimestampFormat) before its text, as `-t` does.
	Timestamps bool
}

// Printer merges the lines of many containers into one writer. It is safe for concurrent use,
// and every line reaches the writer whole, in one Write, never interleaved with another.
type Printer struct {
	w    io.Writer
	opts Options

	mu      sync.Mutex
	width   int // longest registered name + 1
	streams map[string]*stream
	buf     []byte // reused under mu: one allocation-free Write per line
}

// stream is one registered name: its color and its current, padded prefix.
type stream struct {
	color  *color.Color // nil without Color
	prefix string
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer, opts Options) *Printer {
	return &Printer{w: w, opts: opts, streams: map[string]*stream{}}
}

// Register gives names their colors, in order, and widens the prefix column to fit them. Lines
// of a name never registered register it on first output; registering every name up front
// keeps the column from being re-padded half-way through the output.
func (p *Printer) Register(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range names {
		p.stream(name)
	}
}

// Line prints one line of a container's output. A text holding newlines prints as several
// lines, each with the prefix.
func (p *Printer) Line(name string, l runtime.LogLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stream(name)
	b := p.buf[:0]
	for {
		text, rest, more := strings.Cut(l.Text, "\n")
		b = append(b, s.prefix...)
		if p.opts.Timestamps {
			b = l.Time.UTC().AppendFormat(b, TimestampFormat)
			b = append(b, ' ')
		}
		b = append(b, text...)
		b = append(b, '\n')
		if !more {
			break
		}
		l.Text = rest
	}
	p.buf = b
	// A failed write (a closed pipe) is the reader's choice to stop reading; there is no one
	// to report it to, and the other streams must not block on it.
	_, _ = p.w.Write(b)
}

// Status prints a line about a container rather than from it, such as `web-1 exited with
// code 1`: the name, a space and text, without the column prefix, in the container's color.
func (p *Printer) Status(name, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stream(name)
	line := name + " " + text
	if s.color != nil {
		line = s.color.Sprint(line)
	}
	p.buf = append(append(p.buf[:0], line...), '\n')
	_, _ = p.w.Write(p.buf)
}

// stream returns the registered stream of name, registering it first when it is new. The
// caller holds mu.
func (p *Printer) stream(name string) *stream {
	if s, ok := p.streams[name]; ok {
		return s
	}
	s := &stream{}
	if p.opts.Color {
		s.color = palette[len(p.streams)%len(palette)]
	}
	p.streams[name] = s
	if len(name)+1 > p.width {
		// A longer name widens the column for everyone, as Compose re-pads.
		p.width = len(name) + 1
		for n, other := range p.streams {
			other.prefix = p.prefix(n, other)
		}
	} else {
		s.prefix = p.prefix(name, s)
	}
	return s
}

// prefix formats the column prefix of name at the current width.
func (p *Printer) prefix(name string, s *stream) string {
	if !p.opts.Prefix {
		return ""
	}
	text := fmt.Sprintf("%-*s | ", p.width, name)
	if s.color != nil {
		return s.color.Sprint(text)
	}
	return text
}

// Exited prints the status line of a container that exited with code, `web-1 exited with
// code 1`, marked ` (restarting)` when c's state says its restart policy brings it back. It
// fits FollowOptions.OnExit.
func (p *Printer) Exited(c runtime.Container, code int) {
	restarting := c.State == runtime.StateRestarting || c.State == runtime.StateRunning
	p.Status(runtime.DisplayName(c.Name, c.Labels), ExitStatus(code, restarting))
}

// ExitStatus is the status text Compose prints when a container exits: `exited with code N`,
// with ` (restarting)` when its restart policy brings it back.
func ExitStatus(code int, restarting bool) string {
	if restarting {
		return fmt.Sprintf("exited with code %d (restarting)", code)
	}
	return fmt.Sprintf("exited with code %d", code)
}
