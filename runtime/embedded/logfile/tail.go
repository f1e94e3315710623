package logfile

import (
	"bytes"
	"io"
	"os"
	"slices"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// backChunk is how much a backScanner reads at a time.
const backChunk = 64 * 1024

// backScanner returns a file's complete record lines from the last to the first.
type backScanner struct {
	f   *os.File
	off int64  // file offset of buf[0]
	buf []byte // the not yet returned lines, each ending with a newline
}

// newBackScanner reads backwards from the end of f, leaving out a last record still being
// written (no newline yet). end is the offset just past the last complete record.
func newBackScanner(f *os.File) (s *backScanner, end int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	s = &backScanner{f: f, off: st.Size()}
	for s.off > 0 {
		if err := s.fill(); err != nil {
			return nil, 0, err
		}
		if i := bytes.LastIndexByte(s.buf, '\n'); i >= 0 {
			s.buf = s.buf[:i+1]
			return s, s.off + int64(len(s.buf)), nil
		}
	}
	s.buf = nil
	return s, 0, nil
}

// fill reads the bytes before buf into it, at least backChunk and at least as many as it
// holds, so a long line costs a few reads.
func (s *backScanner) fill() error {
	n := min(s.off, int64(max(backChunk, len(s.buf))))
	nb := make([]byte, int(n)+len(s.buf))
	if _, err := s.f.ReadAt(nb[:n], s.off-n); err != nil && err != io.EOF {
		return err
	}
	copy(nb[n:], s.buf)
	s.buf, s.off = nb, s.off-n
	return nil
}

// prev returns the line before the last one returned, without its newline, or false at the
// start of the file. The line stays valid after further calls.
func (s *backScanner) prev() ([]byte, bool, error) {
	for len(s.buf) > 0 {
		if i := bytes.LastIndexByte(s.buf[:len(s.buf)-1], '\n'); i >= 0 {
			line := s.buf[i+1 : len(s.buf)-1]
			s.buf = s.buf[:i+1]
			return line, true, nil
		}
		if s.off == 0 {
			line := s.buf[:len(s.buf)-1]
			s.buf = s.buf[:0]
			return line, true, nil
		}
		if err := s.fill(); err != nil {
			return nil, false, err
		}
	}
	return nil, false, nil
}

// tailLine is a line assembled backwards from its records.
type tailLine struct {
	stream string
	// seq numbers the line's F record (its last part) in the order read, so backwards: the
	// line with the lowest seq was written last. A line never ended has 0.
	seq   int
	time  time.Time // of the first part seen so far
	parts [][]byte  // last part first
	// incomplete: no F record ends it yet (the writer is still writing it, or died).
	incomplete bool
}

func (l *tailLine) text() []byte {
	if len(l.parts) == 1 {
		return l.parts[0]
	}
	var b []byte
	for _, p := range slices.Backward(l.parts) {
		b = append(b, p...)
	}
	return b
}

// readTail passes to j the last n lines of files (oldest first) within j's Since and Until,
// reading backwards from the end. With opts.Follow, lines not ended yet are left open in j
// for the follower. It returns the offset in the newest file just past its last complete
// record, where a follower starts.
func readTail(path string, files []*os.File, opts runtime.LogOptions, j *joiner, n int) (int64, error) {
	var (
		open  = map[string]*tailLine{} // the earliest line met so far, by stream
		lines []*tailLine              // finished lines within the filters
		seq   int
		// mark is the seq at which n lines were found; once every open line ends after it
		// (in file order, before it), no line still to be found is among the last n.
		mark = -1
	)
	if n == 0 {
		mark = 0
	}
	finish := func(l *tailLine) {
		if l.incomplete && opts.Follow {
			j.open[l.stream] = &partialLine{time: l.time, text: bytes.Clone(l.text())}
			return
		}
		if j.wants(l.time) {
			lines = append(lines, l)
			if len(lines) == n {
				mark = seq
			}
		}
	}
	// beforeSince is the seq of the first record met that is older than Since: lines met
	// from there on start before Since.
	beforeSince := -1
	// settled says that no line still to be found (or still open) is to be passed on.
	settled := func() bool {
		if mark < 0 && beforeSince < 0 {
			return false
		}
		for _, l := range open {
			if l.incomplete || (mark < 0 || l.seq <= mark) && (beforeSince < 0 || l.seq < beforeSince) {
				return false
			}
		}
		return true
	}

	var end int64
scan:
	for i := len(files) - 1; i >= 0; i-- {
		s, e, err := newBackScanner(files[i])
		if err != nil {
			return 0, wrapRead(path, err)
		}
		if i == len(files)-1 {
			end = e
		}
		for {
			line, ok, err := s.prev()
			if err != nil {
				return 0, wrapRead(path, err)
			}
			if !ok {
				break
			}
			rec, ok := parseRecord(line)
			if !ok {
				continue
			}
			seq++
			if beforeSince < 0 && !opts.Since.IsZero() && rec.time.Before(opts.Since.Add(-orderSlack)) {
				beforeSince = seq
			}
			stream := streamName(rec.stream)
			l := open[stream]
			if rec.partial && l != nil {
				l.parts = append(l.parts, rec.text)
				l.time = rec.time
				continue
			}
			if l != nil {
				finish(l)
			}
			l = &tailLine{stream: stream, seq: seq, time: rec.time, parts: [][]byte{rec.text}, incomplete: rec.partial}
			if l.incomplete {
				// A line never ended comes last, as a forwards read passes it on at the end.
				l.seq = 0
			}
			open[stream] = l
			if settled() {
				break scan
			}
		}
	}
	if !settled() {
		// At the start of the log, the lines still open are whole.
		streams := make([]string, 0, len(open))
		for s := range open {
			streams = append(streams, s)
		}
		slices.Sort(streams)
		for _, s := range streams {
			finish(open[s])
		}
	}

	// The last n lines are those with the lowest seq; pass them on in file order.
	slices.SortFunc(lines, func(a, b *tailLine) int {
		if a.seq != b.seq {
			return a.seq - b.seq
		}
		return b.time.Compare(a.time) // lines never ended: by their start
	})
	lines = lines[:min(n, len(lines))]
	for _, l := range slices.Backward(lines) {
		j.sink(runtime.LogLine{Stream: l.stream, Time: l.time, Text: string(l.text())})
	}
	return end, nil
}

func wrapRead(path string, err error) error {
	return &os.PathError{Op: "read log", Path: path, Err: err}
}
