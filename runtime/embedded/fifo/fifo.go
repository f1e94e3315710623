// Package fifo makes and opens the named pipes of containers' streams (stdin, and ttyout for an
// attached terminal), which the supervisor and comp both open.
package fifo

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Make makes a FIFO at path unless one is there already.
func Make(path string) error {
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// Open opens the FIFO at path (making it first) for reading and writing, which does not
// wait for the other side, and never reads end of file while this end is open.
func Open(path string) (*os.File, error) {
	if err := Make(path); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}
