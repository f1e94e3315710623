package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

// Logs writes the container's output as lines to sink until the output ends (or, with Follow,
// until the container stops or ctx ends, which is not an error). sink is called from one
// goroutine, in the order the engine sends the lines.
//
// Docker Engine before 23.0 can end a followed stream early when the container stops, dropping
// the lines it had not sent yet (and a last line without a newline). So when a followed stream
// ends, Logs reads the output again from just before the last line it passed on, and passes on
// what follows that line.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, sink func(runtime.LogLine)) error {
	// A container with a TTY has one raw stream; others have a multiplexed one.
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("read logs of container %s: %w", id, classify(err))
	}
	tty := c.Config != nil && c.Config.Tty

	if !opts.Follow {
		return r.readLogs(ctx, id, tty, opts, sink, true)
	}

	var last *runtime.LogLine
	err = r.readLogs(ctx, id, tty, opts, func(l runtime.LogLine) {
		last = &l
		sink(l)
	}, false)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}

	catchUp := opts
	catchUp.Follow = false
	if last == nil {
		return r.readLogs(ctx, id, tty, catchUp, sink, true)
	}
	if since := last.Time.Add(-time.Second); since.After(catchUp.Since) {
		catchUp.Since = since
	}
	// Look among the newest lines first: the engine reads a tail from the end of its log file,
	// while a full read decodes every line again — for a container that printed 50 000 lines
	// and exited, that made attached up wait half a second per container.
	for _, window := range []int{catchUpWindow, -1} {
		catchUp.Tail = window
		var lines []runtime.LogLine
		err = r.readLogs(ctx, id, tty, catchUp, func(l runtime.LogLine) { lines = append(lines, l) }, true)
		if ctx.Err() != nil || isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		after, found := linesAfter(lines, *last)
		if found || window < 0 || len(lines) < window {
			// Found, or the read held every line since: should the last line passed on not
			// be among them, pass on the newer ones.
			for _, l := range after {
				sink(l)
			}
			return nil
		}
	}
	return nil
}

// catchUpWindow is how many of the newest lines Logs reads first after a followed stream ends.
const catchUpWindow = 256

// linesAfter returns the lines that follow last in lines, and whether last is there; when it is
// not, the lines newer than last.
func linesAfter(lines []runtime.LogLine, last runtime.LogLine) ([]runtime.LogLine, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if l.Time.Equal(last.Time) && l.Stream == last.Stream && l.Text == last.Text {
			return lines[i+1:], true
		}
	}
	var newer []runtime.LogLine
	for _, l := range lines {
		if l.Time.After(last.Time) {
			newer = append(newer, l)
		}
	}
	return newer, false
}

// readLogs reads the container's output once, as opts say. flush passes on a last line
// without a newline.
func (r *Runtime) readLogs(ctx context.Context, id string, tty bool, opts runtime.LogOptions, sink func(runtime.LogLine), flush bool) error {
	tail := "all"
	if opts.Tail >= 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	rc, err := r.cli.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Tail:       tail,
		Timestamps: true,
		Since:      apiTime(opts.Since),
		Until:      apiTime(opts.Until),
	})
	if err != nil {
		return fmt.Errorf("read logs of container %s: %w", id, classify(err))
	}
	defer rc.Close()

	var writers []*lineWriter
	if tty {
		out := &lineWriter{stream: runtime.Stdout, sink: sink, tty: true}
		writers = append(writers, out)
		_, err = io.Copy(out, rc)
	} else {
		out := &lineWriter{stream: runtime.Stdout, sink: sink, framed: true}
		errw := &lineWriter{stream: runtime.Stderr, sink: sink, framed: true}
		writers = append(writers, out, errw)
		err = demux(out, errw, rc)
	}
	if err != nil {
		return fmt.Errorf("read logs of container %s: %w", id, classify(err))
	}
	if flush {
		for _, w := range writers {
			w.flush()
		}
	}
	return nil
}

// apiTime formats t as the engine's "seconds.nanoseconds" timestamp; the zero time gives "".
func apiTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// lineWriter splits one output stream of the engine into lines, each led by the engine's
// RFC 3339 timestamp, and calls sink per line without the timestamp and the newline.
type lineWriter struct {
	stream string
	sink   func(runtime.LogLine)
	// framed: each Write is one log message, led by its timestamp (the demultiplexed stream).
	// A message without a newline is a partial line the next message continues, as the
	// engine splits long lines; the line keeps its first timestamp.
	framed bool
	// live: the output as the container writes it (attach), with no timestamps: each line is
	// stamped when read.
	live bool
	// tty: lines end with "\r\n".
	tty bool

	buf []byte
	ts  time.Time
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.framed {
		if ts, rest, ok := cutTimestamp(p); ok {
			if len(w.buf) == 0 {
				w.ts = ts
			}
			p = rest
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit()
	}
}

func (w *lineWriter) emit() {
	line, ts := w.buf, w.ts
	switch {
	case w.live:
		ts = time.Now()
	case !w.framed:
		ts, line, _ = cutTimestamp(line)
	}
	if w.tty {
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	w.sink(runtime.LogLine{Stream: w.stream, Time: ts, Text: string(line)})
	w.buf = w.buf[:0]
}

// cutTimestamp splits "2006-01-02T15:04:05.999999999Z text" into the time and "text". When p
// does not start with a timestamp it returns the zero time, p and false.
func cutTimestamp(p []byte) (time.Time, []byte, bool) {
	i := bytes.IndexByte(p, ' ')
	if i < len("2006-01-02T15:04:05Z") || i > len(time.RFC3339Nano)+4 {
		return time.Time{}, p, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(p[:i]))
	if err != nil {
		return time.Time{}, p, false
	}
	return t, p[i+1:], true
}

// AttachOutput attaches to the container's stdout and stderr (runtime.OutputAttacher).
func (r *Runtime) AttachOutput(ctx context.Context, id string) (func(sink func(runtime.LogLine)) error, error) {
	resp, tty, err := r.attach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, err
	}
	return func(sink func(runtime.LogLine)) error {
		out := &lineWriter{stream: runtime.Stdout, sink: sink, live: true, tty: tty}
		errw := &lineWriter{stream: runtime.Stderr, sink: sink, live: true}
		err := startStreams(ctx, resp, tty, nil, out, errw).wait()
		out.flush()
		errw.flush()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("output of container %s: %w", id, err)
		}
		return nil
	}, nil
}
