package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// pollInterval is how often a follower at the end of the file looks again for new records,
// a rotation and done, when no file event woke it earlier.
const pollInterval = 50 * time.Millisecond

// Read passes the lines of the log at path to sink, in the order they were written: the
// rotated files oldest first, then path. It honours opts.Tail (negative: all; the last lines
// are found by reading backwards, so a small Tail of a big log is cheap), Since and Until
// (both inclusive); P records are joined with their F record into one line, which takes the
// time of its first part. A missing log has no lines yet.
//
// With opts.Follow, Read then passes on records as they are appended, following rotations,
// until ctx ends (which is not an error), Until is past, or done (nil: never) returns true
// at the end of the file: done should report that the container stopped and its output was
// all written. sink is called from Read's goroutine.
func Read(ctx context.Context, path string, opts runtime.LogOptions, done func() bool, sink func(runtime.LogLine)) error {
	files, err := openLogFiles(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	j := newJoiner(opts, sink)

	var newest *forward
	if len(files) > 0 {
		if opts.Tail >= 0 {
			end, err := readTail(path, files, opts, j, opts.Tail)
			if err != nil {
				return err
			}
			newest = &forward{f: files[len(files)-1], off: end}
		} else {
			var more bool
			newest, more, err = readAll(ctx, path, files, j)
			if err != nil {
				return err
			}
			if !more {
				j.flush()
				return nil
			}
		}
	}
	if !opts.Follow {
		j.flush()
		return ctx.Err()
	}
	err = follow(ctx, path, newest, j, done)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// readAll passes on every record of files and returns a reader at the end of the newest; more
// is false when the records went past Until.
func readAll(ctx context.Context, path string, files []*os.File, j *joiner) (fw *forward, more bool, err error) {
	for _, f := range files {
		fw = &forward{f: f}
		_, more, err := fw.drain(ctx, j.record)
		if err != nil {
			return nil, false, fmt.Errorf("read log %s: %w", path, err)
		}
		if !more {
			return fw, false, nil
		}
	}
	return fw, true, nil
}

// follow passes on the records appended to fw's file, then to the files that replace it,
// until ctx ends, done is true at the end of the file, or the records are past Until.
// fw is nil when the log did not exist yet.
func follow(ctx context.Context, path string, fw *forward, j *joiner, done func() bool) error {
	defer func() {
		if fw != nil {
			fw.f.Close()
		}
	}()
	w := newWaiter(path)
	defer w.close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Asked before reading to the end, so that what was written before done became true
		// is read before Read returns.
		finished := done != nil && done()
		if fw == nil {
			f, err := os.Open(path)
			switch {
			case err == nil:
				fw = &forward{f: f}
				continue
			case !errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("follow log %s: %w", path, err)
			}
		} else {
			got, more, err := fw.drain(ctx, j.record)
			if err != nil {
				return fmt.Errorf("follow log %s: %w", path, err)
			}
			if !more {
				return nil
			}
			if got {
				continue
			}
			next, err := nextLogFile(path, fw.f)
			if err != nil {
				return fmt.Errorf("follow log %s: %w", path, err)
			}
			if next != nil {
				// Rotated: what was written before the rotation is all in the old file now.
				if _, more, err := fw.drain(ctx, j.record); err != nil || !more {
					next.Close()
					return err
				}
				fw.f.Close()
				fw = &forward{f: next}
				continue
			}
			if st, err := fw.f.Stat(); err == nil && st.Size() < fw.off {
				// Truncated in place by someone else: start over.
				fw.off, fw.buf = 0, fw.buf[:0]
				continue
			}
		}
		if finished {
			j.flush()
			return nil
		}
		if !j.until.IsZero() && time.Now().After(j.until.Add(orderSlack)) {
			return nil
		}
		w.wait(pollInterval)
	}
}

// forward reads records from a file, from off on.
type forward struct {
	f   *os.File
	off int64  // the next file offset to read
	buf []byte // bytes read but not yet passed on: the start of a record still being written
}

const forwardChunk = 256 * 1024

// drain reads to the end of the file and calls fn for each complete record line, without its
// newline. got says whether there was one; more is false once fn returned false.
func (fw *forward) drain(ctx context.Context, fn func([]byte) bool) (got, more bool, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return got, true, err
		}
		if cap(fw.buf)-len(fw.buf) < forwardChunk/2 {
			nb := make([]byte, len(fw.buf), max(forwardChunk, 2*len(fw.buf)))
			copy(nb, fw.buf)
			fw.buf = nb
		}
		n, rerr := fw.f.ReadAt(fw.buf[len(fw.buf):cap(fw.buf)], fw.off)
		fw.off += int64(n)
		data := fw.buf[:len(fw.buf)+n]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			got = true
			if !fn(data[:i]) {
				return got, false, nil
			}
			data = data[i+1:]
		}
		fw.buf = append(fw.buf[:0], data...)
		switch {
		case rerr == io.EOF || n == 0:
			return got, true, nil
		case rerr != nil:
			return got, true, rerr
		}
	}
}

// openLogFiles opens the rotated files of path and path itself, oldest first. A missing path
// gives none (or, caught mid-rotation, only the rotated ones: the follower finds the new path).
func openLogFiles(path string) ([]*os.File, error) {
	var files []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("read log %s: %w", path, err)
	}
	for i := 1; ; i++ {
		f, err := os.Open(rotatedName(path, i))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	slices.Reverse(files)
	f, err := os.Open(path)
	switch {
	case err == nil:
		files = append(files, f)
	case !errors.Is(err, os.ErrNotExist):
		return fail(err)
	}
	return files, nil
}

// nextLogFile returns the file written after cur when path is no longer cur (it was rotated),
// or nil while path still is cur or is missing (a rotation in progress).
func nextLogFile(path string, cur *os.File) (*os.File, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	curSt, err := cur.Stat()
	if err != nil {
		return nil, err
	}
	if os.SameFile(st, curSt) {
		return nil, nil
	}
	// cur is path.k now; the next one is path.k-1. When cur was dropped (or the log has a
	// single file), the oldest file left is the next one.
	next := ""
	for i := 1; ; i++ {
		name := rotatedName(path, i)
		st, err := os.Stat(name)
		if err != nil {
			break
		}
		if os.SameFile(st, curSt) {
			next = rotatedName(path, i-1)
			break
		}
		next = name
	}
	if next == "" {
		next = path
	}
	f, err := os.Open(next)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return f, err
}
