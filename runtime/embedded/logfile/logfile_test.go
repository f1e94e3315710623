package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// readLines reads the log at path with opts (no follow).
func readLines(t testing.TB, path string, opts runtime.LogOptions) []runtime.LogLine {
	t.Helper()
	var lines []runtime.LogLine
	if err := Read(context.Background(), path, opts, nil, func(l runtime.LogLine) { lines = append(lines, l) }); err != nil {
		t.Fatalf("Read(%+v): %v", opts, err)
	}
	return lines
}

func texts(lines []runtime.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Stream+":"+l.Text)
	}
	return out
}

func openLog(t testing.TB, maxSize int64, maxFiles int) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.log")
	w, err := Open(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func copyString(t testing.TB, w *Writer, stream, s string) {
	t.Helper()
	if err := w.Copy(stream, strings.NewReader(s)); err != nil {
		t.Fatalf("Copy(%s): %v", stream, err)
	}
}

// at is a fixed time for records written by hand: second i of a day.
func at(i int) time.Time {
	return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}

// record builds one record line as the Writer does.
func rec(i int, stream string, tag byte, text string) string {
	return string(appendRecord(nil, at(i), stream, tag, []byte(text)))
}

func writeFile(t testing.TB, path string, records ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(records, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripKeepsStreamsAndTimes(t *testing.T) {
	w, path := openLog(t, 0, 1)
	before := time.Now()
	copyString(t, w, runtime.Stdout, "out1\nout2\n\n")
	copyString(t, w, runtime.Stderr, "err1\n")
	after := time.Now()

	lines := readLines(t, path, runtime.LogOptions{Tail: -1})
	want := []string{"stdout:out1", "stdout:out2", "stdout:", "stderr:err1"}
	if got := texts(lines); !slices.Equal(got, want) {
		t.Fatalf("Read = %q, want %q", got, want)
	}
	for i, l := range lines {
		if l.Time.Before(before) || l.Time.After(after) || l.Time.Location() != time.UTC {
			t.Errorf("line %d time %v, want UTC within [%v, %v]", i, l.Time, before, after)
		}
		if i > 0 && l.Time.Before(lines[i-1].Time) {
			t.Errorf("line %d time %v before the previous line's %v", i, l.Time, lines[i-1].Time)
		}
	}

	data, _ := os.ReadFile(path)
	first, _, _ := strings.Cut(string(data), "\n")
	if f := strings.Fields(first); len(f) != 4 || f[1] != "stdout" || f[2] != "F" || f[3] != "out1" {
		t.Errorf("first record = %q, want <time> stdout F out1", first)
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(first)[0]); err != nil || !strings.HasSuffix(strings.Fields(first)[0], "Z") {
		t.Errorf("record time %q is not RFC 3339 in UTC: %v", strings.Fields(first)[0], err)
	}
}

func TestLongLineIsSplitIntoPartialRecordsAndJoinedOnRead(t *testing.T) {
	w, path := openLog(t, 0, 1)
	long := strings.Repeat("a", 2*MaxRecordText+100)
	copyString(t, w, runtime.Stdout, "short\n"+long+"\nafter\n")

	data, _ := os.ReadFile(path)
	var tags []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		f := strings.SplitN(line, " ", 4)
		tags = append(tags, f[2]+strconv.Itoa(len(f[3])))
	}
	if want := []string{"F5", "P16384", "P16384", "F100", "F5"}; !slices.Equal(tags, want) {
		t.Errorf("records (tag, text length) = %q, want %q", tags, want)
	}

	for _, tail := range []int{-1, 2} {
		got := texts(readLines(t, path, runtime.LogOptions{Tail: tail}))
		want := []string{"stdout:short", "stdout:" + long, "stdout:after"}
		if tail >= 0 {
			want = want[len(want)-tail:]
		}
		if !slices.Equal(got, want) {
			t.Errorf("Read(Tail %d) gave %d lines of lengths %v, want the long line whole", tail, len(got), lengths(got))
		}
	}
}

func lengths(s []string) []int {
	var out []int
	for _, x := range s {
		out = append(out, len(x))
	}
	return out
}

func TestLastLineWithoutNewlineIsWrittenWhole(t *testing.T) {
	w, path := openLog(t, 0, 1)
	copyString(t, w, runtime.Stdout, "one\nlast")
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), " stdout F last\n") {
		t.Errorf("log ends %q, want a full record of \"last\"", data)
	}
	if got, want := texts(readLines(t, path, runtime.LogOptions{Tail: -1})), []string{"stdout:one", "stdout:last"}; !slices.Equal(got, want) {
		t.Errorf("Read = %q, want %q", got, want)
	}
}

func TestRotationKeepsMaxFilesAndReadSpansThemInOrder(t *testing.T) {
	const maxSize = 300
	w, path := openLog(t, maxSize, 3)
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "line %03d\n", i)
	}
	copyString(t, w, runtime.Stdout, in.String())

	for i := range 3 {
		st, err := os.Stat(rotatedName(path, i))
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if st.Size() > maxSize {
			t.Errorf("%s has %d bytes, over max-size %d", rotatedName(path, i), st.Size(), maxSize)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists (err %v), want the oldest file dropped", path, err)
	}

	got := texts(readLines(t, path, runtime.LogOptions{Tail: -1}))
	if len(got) == 0 || len(got) >= 100 || got[len(got)-1] != "stdout:line 099" {
		t.Fatalf("Read = %q, want the newest lines ending with line 099", got)
	}
	first, _ := strconv.Atoi(strings.TrimPrefix(got[0], "stdout:line "))
	for i, s := range got {
		if want := fmt.Sprintf("stdout:line %03d", first+i); s != want {
			t.Fatalf("line %d = %q, want %q: lines must be in order, none missing", i, s, want)
		}
	}

	// Tail across the boundary between path.1 and path.
	newest := texts(readLines(t, path, runtime.LogOptions{Tail: -1}))
	data, _ := os.ReadFile(path)
	inNewest := strings.Count(string(data), "\n")
	n := inNewest + 2
	if got := texts(readLines(t, path, runtime.LogOptions{Tail: n})); !slices.Equal(got, newest[len(newest)-n:]) {
		t.Errorf("Read(Tail %d) = %q, want %q", n, got, newest[len(newest)-n:])
	}
}

func TestMaxFileOneStartsTheFileOver(t *testing.T) {
	w, path := openLog(t, 200, 1)
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "line %03d\n", i)
	}
	copyString(t, w, runtime.Stdout, in.String())
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf("%s.1 exists (err %v), want a single file", path, err)
	}
	got := texts(readLines(t, path, runtime.LogOptions{Tail: -1}))
	if len(got) == 0 || got[len(got)-1] != "stdout:line 029" {
		t.Errorf("Read = %q, want lines ending with line 029", got)
	}
}

func TestOpenAppendsAndKeepsCountingSize(t *testing.T) {
	w, path := openLog(t, 0, 1)
	copyString(t, w, runtime.Stdout, "before\n")
	w.Close()
	w2, err := Open(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	copyString(t, w2, runtime.Stdout, "after\n")
	if got, want := texts(readLines(t, path, runtime.LogOptions{Tail: -1})), []string{"stdout:before", "stdout:after"}; !slices.Equal(got, want) {
		t.Errorf("Read = %q, want %q", got, want)
	}
	if err := w.Copy(runtime.Stdout, strings.NewReader("x\n")); err == nil {
		t.Error("Copy on a closed Writer succeeded, want an error")
	}
}

func TestSinceAndUntilAreInclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctr.log")
	writeFile(t, path,
		rec(0, "stdout", 'F', "l0"),
		rec(1, "stderr", 'F', "l1"),
		rec(2, "stdout", 'P', "l2a"),
		rec(3, "stdout", 'F', "l2b"),
		rec(4, "stdout", 'F', "l4"),
		rec(5, "stdout", 'F', "l5"),
	)
	tests := []struct {
		name string
		opts runtime.LogOptions
		want []string
	}{
		{"since keeps lines from that time on", runtime.LogOptions{Tail: -1, Since: at(2)}, []string{"l2al2b", "l4", "l5"}},
		{"a joined line takes its first part's time", runtime.LogOptions{Tail: -1, Since: at(3)}, []string{"l4", "l5"}},
		{"until keeps lines up to that time", runtime.LogOptions{Tail: -1, Until: at(2)}, []string{"l0", "l1", "l2al2b"}},
		{"since and until together", runtime.LogOptions{Tail: -1, Since: at(1), Until: at(4)}, []string{"l1", "l2al2b", "l4"}},
		{"tail counts lines within since", runtime.LogOptions{Tail: 10, Since: at(4)}, []string{"l4", "l5"}},
		{"tail counts lines within until", runtime.LogOptions{Tail: 2, Until: at(2)}, []string{"l1", "l2al2b"}},
		{"tail zero gives nothing", runtime.LogOptions{Tail: 0}, nil},
		{"tail larger than the log gives all", runtime.LogOptions{Tail: 100}, []string{"l0", "l1", "l2al2b", "l4", "l5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range readLines(t, path, tt.opts) {
				got = append(got, l.Text)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Read(%+v) = %q, want %q", tt.opts, got, tt.want)
			}
		})
	}
}

func TestMissingLogHasNoLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.log")
	if got := readLines(t, path, runtime.LogOptions{Tail: -1}); len(got) != 0 {
		t.Errorf("Read = %v, want nothing", got)
	}
	if got := readLines(t, path, runtime.LogOptions{Tail: 3}); len(got) != 0 {
		t.Errorf("Read(Tail 3) = %v, want nothing", got)
	}
}

// TestTailMatchesTheEndOfAFullRead checks the backwards reader against the forwards one on
// random logs: two streams, split lines interleaved with the other stream, rotated files.
func TestTailMatchesTheEndOfAFullRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		dir := t.TempDir()
		path := filepath.Join(dir, "ctr.log")
		var records []string
		open := map[string]bool{}
		i := 0
		add := func(stream string, tag byte) {
			open[stream] = tag == 'P'
			records = append(records, rec(i, stream, tag, fmt.Sprintf("%s%d", stream[3:], i)))
			i++
		}
		for range rng.IntN(40) {
			tag := byte('F')
			if rng.IntN(3) == 0 {
				tag = 'P'
			}
			add([]string{"stdout", "stderr"}[rng.IntN(2)], tag)
		}
		// Copy ends every line; only the very last record may be a line still being written.
		for _, stream := range []string{"stdout", "stderr"} {
			if open[stream] {
				add(stream, 'F')
			}
		}
		if rng.IntN(4) == 0 {
			add("stderr", 'P')
		}
		// Split into up to 3 files at random record boundaries.
		cuts := []int{0, len(records)}
		for range rng.IntN(3) {
			cuts = append(cuts, rng.IntN(len(records)+1))
		}
		slices.Sort(cuts)
		for k := range len(cuts) - 1 {
			writeFile(t, rotatedName(path, len(cuts)-2-k), records[cuts[k]:cuts[k+1]]...)
		}

		all := readLines(t, path, runtime.LogOptions{Tail: -1})
		for _, opts := range []runtime.LogOptions{
			{}, {Since: at(rng.IntN(40))}, {Until: at(rng.IntN(40))}, {Since: at(rng.IntN(20)), Until: at(20 + rng.IntN(20))},
		} {
			filtered := readLines(t, path, runtime.LogOptions{Tail: -1, Since: opts.Since, Until: opts.Until})
			for n := range 12 {
				opts.Tail = n
				want := filtered[max(0, len(filtered)-n):]
				if got := readLines(t, path, opts); !slices.Equal(texts(got), texts(want)) || !sameTimes(got, want) {
					t.Fatalf("round %d: Read(%+v) = %q, want %q (all: %q)", round, opts, texts(got), texts(want), texts(all))
				}
			}
		}
	}
}

func sameTimes(a, b []runtime.LogLine) bool {
	return slices.EqualFunc(a, b, func(x, y runtime.LogLine) bool { return x.Time.Equal(y.Time) })
}

// follower runs Read with Follow in the background and collects its lines.
type follower struct {
	mu    sync.Mutex
	lines []runtime.LogLine
	done  atomic.Bool
	err   chan error
}

func startFollow(t *testing.T, ctx context.Context, path string, opts runtime.LogOptions) *follower {
	f := &follower{err: make(chan error, 1)}
	opts.Follow = true
	go func() {
		f.err <- Read(ctx, path, opts, f.done.Load, func(l runtime.LogLine) {
			f.mu.Lock()
			f.lines = append(f.lines, l)
			f.mu.Unlock()
		})
	}()
	return f
}

func (f *follower) texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return texts(f.lines)
}

// waitFor waits until the follower has n lines.
func (f *follower) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.texts()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("follower has %d lines after 10s, want %d: %q", len(f.texts()), n, f.texts())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *follower) finish(t *testing.T) {
	t.Helper()
	f.done.Store(true)
	select {
	case err := <-f.err:
		if err != nil {
			t.Fatalf("Read(Follow): %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read(Follow) did not end within 5s of done() turning true")
	}
}

func TestFollowSeesAppendedLinesAndEndsWhenDone(t *testing.T) {
	w, path := openLog(t, 0, 1)
	copyString(t, w, runtime.Stdout, "old1\nold2\n")
	f := startFollow(t, context.Background(), path, runtime.LogOptions{Tail: 1})
	f.waitFor(t, 1)

	copyString(t, w, runtime.Stdout, "new1\n")
	f.waitFor(t, 2)
	// A long line written as P records arrives joined.
	long := strings.Repeat("x", MaxRecordText+10)
	copyString(t, w, runtime.Stderr, long+"\nnew2")
	f.finish(t)
	want := []string{"stdout:old2", "stdout:new1", "stderr:" + long, "stderr:new2"}
	if got := f.texts(); !slices.Equal(got, want) {
		t.Errorf("followed %d lines of lengths %v, want %d of %v", len(got), lengths(got), len(want), lengths(want))
	}
}

func TestFollowReadsWhatWasWrittenBeforeDone(t *testing.T) {
	// done() may turn true right after the last write: Read must still pass that line on.
	for range 20 {
		w, path := openLog(t, 0, 1)
		f := startFollow(t, context.Background(), path, runtime.LogOptions{Tail: -1})
		time.Sleep(time.Millisecond)
		copyString(t, w, runtime.Stdout, "a\nb\n")
		f.finish(t)
		if got := f.texts(); !slices.Equal(got, []string{"stdout:a", "stdout:b"}) {
			t.Fatalf("followed %q, want a and b", got)
		}
	}
}

func TestFollowWaitsForALogNotCreatedYet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	f := startFollow(t, context.Background(), path, runtime.LogOptions{Tail: -1})
	time.Sleep(20 * time.Millisecond)
	w, err := Open(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	copyString(t, w, runtime.Stdout, "hello\n")
	f.waitFor(t, 1)
	f.finish(t)
}

func TestFollowFollowsRotations(t *testing.T) {
	w, path := openLog(t, 2000, 5)
	f := startFollow(t, context.Background(), path, runtime.LogOptions{Tail: -1})
	const n = 500
	var want []string
	for i := range n {
		// Line by line, as a container would, so the follower meets many rotations.
		copyString(t, w, runtime.Stdout, fmt.Sprintf("line %04d\n", i))
		want = append(want, fmt.Sprintf("stdout:line %04d", i))
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // a follower more than 5 files behind loses lines
		}
	}
	f.waitFor(t, n)
	f.finish(t)
	if got := f.texts(); !slices.Equal(got, want) {
		t.Errorf("followed %d lines, want %d in order, each once; first differences: %q", len(got), n, firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %q != %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

func TestFollowEndsWithTheContextWithoutError(t *testing.T) {
	_, path := openLog(t, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	f := startFollow(t, ctx, path, runtime.LogOptions{Tail: -1})
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-f.err:
		if err != nil {
			t.Errorf("Read(Follow) after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read(Follow) did not end within 5s of the context ending")
	}
}

func TestFollowEndsAfterUntil(t *testing.T) {
	_, path := openLog(t, 0, 1)
	f := startFollow(t, context.Background(), path, runtime.LogOptions{Tail: -1, Until: time.Now().Add(-time.Second)})
	select {
	case err := <-f.err:
		if err != nil {
			t.Errorf("Read(Follow, Until in the past) = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read(Follow) with Until in the past did not end")
	}
}

func TestConcurrentCopiesNeverInterleaveRecords(t *testing.T) {
	w, path := openLog(t, 256*1024, 100)
	const n = 20000
	var wg sync.WaitGroup
	for _, stream := range []string{runtime.Stdout, runtime.Stderr} {
		var in strings.Builder
		for i := range n {
			fmt.Fprintf(&in, "%s %d %s\n", stream, i, strings.Repeat("z", i%300))
		}
		// A pipe delivers the data in pieces, as a container's output does.
		r, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer pw.Close()
			pw.WriteString(in.String())
		}()
		go func() {
			defer wg.Done()
			defer r.Close()
			if err := w.Copy(stream, r); err != nil {
				t.Errorf("Copy(%s): %v", stream, err)
			}
		}()
	}
	wg.Wait()

	next := map[string]int{}
	for _, l := range readLines(t, path, runtime.LogOptions{Tail: -1}) {
		want := fmt.Sprintf("%s %d %s", l.Stream, next[l.Stream], strings.Repeat("z", next[l.Stream]%300))
		if l.Text != want {
			t.Fatalf("line %q, want %q", l.Text, want)
		}
		next[l.Stream]++
	}
	if next[runtime.Stdout] != n || next[runtime.Stderr] != n {
		t.Errorf("read %v lines, want %d of each stream", next, n)
	}
	// Every record in every file is whole.
	files, _ := filepath.Glob(path + "*")
	for _, name := range files {
		data, _ := os.ReadFile(name)
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if _, ok := parseRecord(line); !ok {
				t.Fatalf("%s: torn record %q", name, line)
			}
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     map[string]string
		size     int64
		files    int
		hasError bool
	}{
		{"no options never rotate", nil, 0, 1, false},
		{"max-size in megabytes", map[string]string{"max-size": "10m"}, 10 << 20, 1, false},
		{"max-size in kilobytes with max-file", map[string]string{"max-size": "100k", "max-file": "3"}, 100 << 10, 3, false},
		{"max-size in gigabytes", map[string]string{"max-size": "1g"}, 1 << 30, 1, false},
		{"plain bytes", map[string]string{"max-size": "1234"}, 1234, 1, false},
		{"other options are ignored", map[string]string{"compress": "true", "labels": "a"}, 0, 1, false},
		{"max-size must be positive", map[string]string{"max-size": "0"}, 0, 0, true},
		{"max-size must be a size", map[string]string{"max-size": "big"}, 0, 0, true},
		{"max-file must be a number", map[string]string{"max-size": "1m", "max-file": "x"}, 0, 0, true},
		{"max-file must be positive", map[string]string{"max-size": "1m", "max-file": "0"}, 0, 0, true},
		{"max-file needs max-size", map[string]string{"max-file": "3"}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, files, err := ParseOptions(tt.opts)
			if (err != nil) != tt.hasError {
				t.Fatalf("ParseOptions(%v) error = %v, want error %v", tt.opts, err, tt.hasError)
			}
			if err != nil {
				if !errors.Is(err, runtime.ErrInvalidArgument) {
					t.Errorf("error %v is not runtime.ErrInvalidArgument", err)
				}
				return
			}
			if size != tt.size || files != tt.files {
				t.Errorf("ParseOptions(%v) = %d, %d, want %d, %d", tt.opts, size, files, tt.size, tt.files)
			}
		})
	}
}
