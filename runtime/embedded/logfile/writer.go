package logfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// batchSize is how many bytes of records Copy gathers from data already read before writing.
const batchSize = 64 * 1024

// Writer appends records to a log file and rotates it by size. Its methods are safe for
// concurrent use; every write is whole records, so records of concurrent streams never
// interleave.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File // nil once closed
	size int64
}

// Open opens (appending, creating it if needed) the log at path, rotating by size: when the
// file would exceed maxSize bytes (0: never), it is renamed path.1 (path.1 to path.2 and so
// on, keeping maxFiles files in all, the oldest dropped), as Docker's json-file max-size and
// max-file do. A maxFiles below 1 counts as 1: the file starts over.
func Open(path string, maxSize int64, maxFiles int) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return &Writer{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 1), f: f, size: st.Size()}, nil
}

// Copy reads r (a container's stdout or stderr) until EOF and appends its lines as records of
// stream, each stamped with the time it was read. Lines longer than MaxRecordText are split
// into P records; a last line without a newline is written as F at EOF. A write error does
// not stop the reading, so the container never blocks on a full pipe: Copy drains r and then
// returns the first error. EIO (a terminal hung up) counts as EOF.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxRecordText)
	var (
		batch    []byte
		ends     []int // end offset in batch of each record
		writeErr error
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			tag := byte(tagFull)
			switch {
			case chunk[len(chunk)-1] == '\n':
				chunk = chunk[:len(chunk)-1]
			case err == bufio.ErrBufferFull:
				tag = tagPartial
			}
			batch = appendRecord(batch, time.Now(), stream, tag, chunk)
			ends = append(ends, len(batch))
		}
		if err == bufio.ErrBufferFull {
			err = nil
		}
		if len(batch) > 0 && (err != nil || br.Buffered() == 0 || len(batch) >= batchSize) {
			if werr := w.write(batch, ends); werr != nil && writeErr == nil {
				writeErr = werr
			}
			batch, ends = batch[:0], ends[:0]
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, syscall.EIO):
			return writeErr
		default:
			return errors.Join(fmt.Errorf("read %s for log %s: %w", stream, w.path, err), writeErr)
		}
	}
}

// write appends the records in batch (ending at the offsets ends), rotating before a record
// that would take the file past maxSize. A record larger than maxSize gets a file of its own.
// Should rotating fail, the records are still written, to the current file.
func (w *Writer) write(batch []byte, ends []int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write log %s: %w", w.path, os.ErrClosed)
	}
	var rotateErr error
	start := 0
	for start < len(batch) {
		end := len(batch)
		if w.maxSize > 0 && rotateErr == nil && w.size+int64(end-start) > w.maxSize {
			// Write the records that still fit, then rotate.
			fit := start
			for _, e := range ends {
				if e > start && w.size+int64(e-start) <= w.maxSize {
					fit = e
				}
			}
			switch {
			case fit == start && w.size > 0:
				rotateErr = w.rotate()
				continue
			case fit == start:
				end = nextEnd(ends, start) // one record larger than maxSize: alone in its file
			default:
				end = fit
			}
		}
		n, err := w.f.Write(batch[start:end])
		w.size += int64(n)
		if err != nil {
			return errors.Join(fmt.Errorf("write log %s: %w", w.path, err), rotateErr)
		}
		start = end
	}
	return rotateErr
}

func nextEnd(ends []int, start int) int {
	for _, e := range ends {
		if e > start {
			return e
		}
	}
	return start
}

// rotate shifts path.N to path.N+1, drops the oldest, renames path to path.1 and starts a new
// path; with maxFiles 1 the file is only replaced. Readers holding the old file keep reading
// it and find the new one by its identity. On error the Writer keeps its current file.
func (w *Writer) rotate() error {
	if w.maxFiles <= 1 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log %s: %w", w.path, err)
		}
	} else {
		if err := os.Remove(rotatedName(w.path, w.maxFiles-1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log %s: %w", w.path, err)
		}
		for i := w.maxFiles - 2; i >= 0; i-- {
			err := os.Rename(rotatedName(w.path, i), rotatedName(w.path, i+1))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log %s: %w", w.path, err)
			}
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	old := w.f
	w.f, w.size = f, 0
	if err := old.Close(); err != nil {
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	return nil
}

// rotatedName is path for i 0, else path.i.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// Close closes the file; a Copy still running keeps draining its reader but writes nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close log %s: %w", w.path, err)
	}
	return nil
}
