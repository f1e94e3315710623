package docker

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/docker/docker/pkg/stdcopy"
)

// demux gives what stdcopy.StdCopy gives, one Write per frame, for what the engine's
// stdcopy writer produced: small frames, empty ones, and frames larger than its buffers.
func TestDemuxMatchesStdCopy(t *testing.T) {
	var muxed bytes.Buffer
	outW := stdcopy.NewStdWriter(&muxed, stdcopy.Stdout)
	errW := stdcopy.NewStdWriter(&muxed, stdcopy.Stderr)
	var wantOut, wantErr bytes.Buffer
	frames := 0
	for i := range 3000 {
		line := strings.Repeat("x", i%97) + "\n"
		if i%500 == 0 {
			line = strings.Repeat("big", 40000) + "\n" // 120 kB: larger than every buffer
		}
		if i%3 == 0 {
			errW.Write([]byte(line))
			wantErr.WriteString(line)
		} else {
			outW.Write([]byte(line))
			wantOut.WriteString(line)
		}
		frames++
	}
	var gotOut, gotErr countingBuffer
	if err := demux(&gotOut, &gotErr, bytes.NewReader(muxed.Bytes())); err != nil {
		t.Fatal(err)
	}
	if gotOut.String() != wantOut.String() || gotErr.String() != wantErr.String() {
		t.Fatalf("demuxed %d/%d bytes, want %d/%d", gotOut.Len(), gotErr.Len(), wantOut.Len(), wantErr.Len())
	}
	if gotOut.writes+gotErr.writes != frames {
		t.Errorf("%d writes, want one per frame (%d)", gotOut.writes+gotErr.writes, frames)
	}
}

type countingBuffer struct {
	bytes.Buffer
	writes int
}

func (b *countingBuffer) Write(p []byte) (int, error) {
	b.writes++
	return b.Buffer.Write(p)
}

func TestDemuxErrors(t *testing.T) {
	frame := func(stream byte, payload string) []byte {
		h := []byte{stream, 0, 0, 0, 0, 0, 0, byte(len(payload))}
		return append(h, payload...)
	}
	// The engine's own error frame ends the stream with that error.
	in := append(frame(1, "hi\n"), frame(3, "no such container")...)
	err := demux(io.Discard, io.Discard, bytes.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "no such container") {
		t.Errorf("system error frame: %v", err)
	}
	// A stream cut inside a frame is an error, not a silent end.
	cut := frame(1, "hello\n")
	err = demux(io.Discard, io.Discard, bytes.NewReader(cut[:len(cut)-2]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	// An unknown stream number is refused.
	if err := demux(io.Discard, io.Discard, bytes.NewReader(frame(9, "x"))); err == nil {
		t.Error("stream 9 accepted")
	}
	// A stream that ends between frames is a clean end.
	if err := demux(io.Discard, io.Discard, bytes.NewReader(frame(2, "bye\n"))); err != nil {
		t.Errorf("clean end: %v", err)
	}
}

// After a followed stream ends, the catch-up passes on what follows the last line passed on —
// its newest occurrence — or, when that line is not in the read, the lines newer than it.
func TestLinesAfter(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1000, int64(s)) }
	line := func(s int, text string) runtime.LogLine {
		return runtime.LogLine{Stream: runtime.Stdout, Time: at(s), Text: text}
	}
	lines := []runtime.LogLine{line(1, "a"), line(2, "b"), line(2, "b"), line(3, "c"), line(4, "d")}
	texts := func(ls []runtime.LogLine) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Text)
		}
		return strings.Join(out, ",")
	}
	if after, found := linesAfter(lines, line(2, "b")); !found || texts(after) != "c,d" {
		t.Errorf("after b: %q, %v; want c,d and found", texts(after), found)
	}
	if after, found := linesAfter(lines, line(4, "d")); !found || len(after) != 0 {
		t.Errorf("after the last line: %q, %v", texts(after), found)
	}
	if after, found := linesAfter(lines, line(2, "x")); found || texts(after) != "c,d" {
		t.Errorf("a line not read: %q, %v; want the newer c,d", texts(after), found)
	}
}
