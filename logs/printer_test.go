package logs

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// step is one call on a Printer: a Line (text), a Status (status), or a Register (register).
type step struct {
	name     string
	text     string
	status   string
	register bool
}

func TestPrinterFormatsLines(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 30, 45, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name  string
		opts  Options
		steps []step
		want  string
	}{
		{
			name:  "pads the prefix to the longest name plus one",
			opts:  Options{Prefix: true},
			steps: []step{{name: "web-1", register: true}, {name: "db-1", register: true}, {name: "db-1", text: "ready"}, {name: "web-1", text: "up"}},
			want:  "db-1   | ready\nweb-1  | up\n",
		},
		{
			name:  "re-pads every prefix when a longer name appears",
			opts:  Options{Prefix: true},
			steps: []step{{name: "db-1", text: "one"}, {name: "frontend-1", text: "two"}, {name: "db-1", text: "three"}},
			want:  "db-1  | one\nfrontend-1  | two\ndb-1        | three\n",
		},
		{
			name:  "a shorter name keeps the width",
			opts:  Options{Prefix: true},
			steps: []step{{name: "frontend-1", register: true}, {name: "a-1", text: "x"}},
			want:  "a-1         | x\n",
		},
		{
			name:  "shows a container_name as it is",
			opts:  Options{Prefix: true},
			steps: []step{{name: "my_db", text: "x"}},
			want:  "my_db  | x\n",
		},
		{
			name:  "without prefix prints the bare text",
			opts:  Options{},
			steps: []step{{name: "web-1", text: "hello"}},
			want:  "hello\n",
		},
		{
			name:  "timestamps go between prefix and text, in UTC with nanoseconds",
			opts:  Options{Prefix: true, Timestamps: true},
			steps: []step{{name: "web-1", text: "hello"}},
			want:  "web-1  | 2024-05-01T10:30:45.123456789Z hello\n",
		},
		{
			name:  "timestamps keep trailing zeros so columns align",
			opts:  Options{Timestamps: true},
			steps: []step{{name: "web-1", text: "x"}},
			want:  "2024-05-01T10:30:45.123456789Z x\n",
		},
		{
			name:  "a text with newlines prints as prefixed lines",
			opts:  Options{Prefix: true},
			steps: []step{{name: "web-1", text: "a\nb"}},
			want:  "web-1  | a\nweb-1  | b\n",
		},
		{
			name:  "an empty line keeps its prefix",
			opts:  Options{Prefix: true},
			steps: []step{{name: "web-1", text: ""}},
			want:  "web-1  | \n",
		},
		{
			name:  "status lines carry no column prefix",
			opts:  Options{Prefix: true},
			steps: []step{{name: "web-1", text: "bye"}, {name: "web-1", status: "exited with code 1"}},
			want:  "web-1  | bye\nweb-1 exited with code 1\n",
		},
		{
			name:  "status lines print without prefix option too",
			opts:  Options{},
			steps: []step{{name: "web-1", status: "exited with code 0"}},
			want:  "web-1 exited with code 0\n",
		},
		{
			name:  "colors only the prefix",
			opts:  Options{Prefix: true, Color: true},
			steps: []step{{name: "web-1", text: "hello"}},
			want:  "\x1b[36mweb-1  | \x1b[0mhello\n",
		},
		{
			name:  "colors a status line whole, in the container's color",
			opts:  Options{Prefix: true, Color: true},
			steps: []step{{name: "web-1", register: true}, {name: "db-1", status: "exited with code 1"}},
			want:  "\x1b[33mdb-1 exited with code 1\x1b[0m\n",
		},
		{
			name:  "without color writes no escape codes",
			opts:  Options{Prefix: true, Timestamps: true},
			steps: []step{{name: "web-1", text: "a"}, {name: "web-1", status: "exited with code 0"}},
			want:  "web-1  | 2024-05-01T10:30:45.123456789Z a\nweb-1 exited with code 0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := NewPrinter(&out, tt.opts)
			for _, s := range tt.steps {
				switch {
				case s.register:
					p.Register(s.name)
				case s.status != "":
					p.Status(s.name, s.status)
				default:
					p.Line(s.name, runtime.LogLine{Stream: runtime.Stdout, Time: at, Text: s.text})
				}
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestPrinterColorsInRegistrationOrder(t *testing.T) {
	// Compose's rainbow: five colors, the same five intense, then around again.
	want := []string{"36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1", "36", "33"}
	var out bytes.Buffer
	p := NewPrinter(&out, Options{Color: true})
	for i := range want {
		p.Register(fmt.Sprintf("s%d-1", i))
	}
	for i := range want {
		p.Status(fmt.Sprintf("s%d-1", i), "x")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, code := range want {
		prefix := "\x1b[" + code + "m"
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("name %d: got %q, want color %q", i, lines[i], prefix)
		}
	}
}

func TestPrinterColorsByFirstOutputWhenNotRegistered(t *testing.T) {
	var out bytes.Buffer
	p := NewPrinter(&out, Options{Color: true, Prefix: true})
	p.Line("b-1", runtime.LogLine{Text: "first"})
	p.Line("a-1", runtime.LogLine{Text: "second"})
	want := "\x1b[36mb-1  | \x1b[0mfirst\n\x1b[33ma-1  | \x1b[0msecond\n"
	if got := out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		restarting bool
		want       string
	}{
		{"a clean exit", 0, false, "exited with code 0"},
		{"a failure", 137, false, "exited with code 137"},
		{"a failure its restart policy recovers", 1, true, "exited with code 1 (restarting)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitStatus(tt.code, tt.restarting); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrinterExited(t *testing.T) {
	tests := []struct {
		name  string
		state string
		want  string
	}{
		{"a stopped container", runtime.StateExited, "web-1 exited with code 1\n"},
		{"a container waiting to restart", runtime.StateRestarting, "web-1 exited with code 1 (restarting)\n"},
		{"a container already running again", runtime.StateRunning, "web-1 exited with code 1 (restarting)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := runtime.Container{Name: "p-web-1", Labels: labels("p", "web", 1), State: tt.state}
			NewPrinter(&out, Options{Prefix: true}).Exited(c, 1)
			if got := out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// writeRecorder keeps every Write apart. It is not safe for concurrent use, so the race
// detector catches a Printer that lets two writes overlap.
type writeRecorder struct{ writes []string }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestPrinterWritesWholeLinesFromConcurrentStreams(t *testing.T) {
	const streams, lines = 8, 500
	var w writeRecorder
	p := NewPrinter(&w, Options{Prefix: true, Color: true, Timestamps: true})
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			name := fmt.Sprintf("service-%d", s)
			for i := range lines {
				p.Line(name, runtime.LogLine{Time: time.Unix(0, int64(i)), Text: fmt.Sprintf("%s line %d", name, i)})
			}
		})
	}
	wg.Wait()

	if len(w.writes) != streams*lines {
		t.Fatalf("got %d writes, want one per line: %d", len(w.writes), streams*lines)
	}
	next := map[string]int{}
	for _, write := range w.writes {
		if strings.Count(write, "\n") != 1 || !strings.HasSuffix(write, "\n") {
			t.Fatalf("a write is not one whole line: %q", write)
		}
		// The text names its stream and number: each stream's lines arrive whole and in order.
		_, text, ok := strings.Cut(write, "Z ")
		if !ok {
			t.Fatalf("no timestamp in %q", write)
		}
		var name string
		var i int
		if _, err := fmt.Sscanf(text, "%s line %d", &name, &i); err != nil {
			t.Fatalf("mangled line %q: %v", write, err)
		}
		if i != next[name] {
			t.Fatalf("%s: got line %d, want %d", name, i, next[name])
		}
		next[name]++
	}
}

// BenchmarkPrinter8Streams measures the throughput of one Printer fed by 8 concurrent streams.
func BenchmarkPrinter8Streams(b *testing.B) {
	const streams = 8
	p := NewPrinter(io.Discard, Options{Prefix: true, Color: true, Timestamps: true})
	line := runtime.LogLine{Stream: runtime.Stdout, Time: time.Now(), Text: strings.Repeat("x", 80)}
	names := make([]string, streams)
	for i := range names {
		names[i] = fmt.Sprintf("service-%d", i+1)
	}
	p.Register(names...)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range streams {
		n := b.N / streams
		if s < b.N%streams {
			n++
		}
		wg.Go(func() {
			for range n {
				p.Line(names[s], line)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
