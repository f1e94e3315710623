package fsutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// MakeFIFO makes a FIFO at path unless one is there already.
func MakeFIFO(path string) error {
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// OpenFIFO opens the FIFO at path (making it first) for reading and writing, which does not
// wait for the other side, and never reads end of file while this end is open.
func OpenFIFO(path string) (*os.File, error) {
	if err := MakeFIFO(path); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}
