package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// removeOrphanDirs removes folders of l/ that ix does not know: a crash between renaming a
// layer into place and writing the index leaves one. Call under the store lock.
func (s *Store) removeOrphanDirs(ix *index) (removed bool, err error) {
	known := map[string]bool{}
	for _, l := range ix.Layers {
		known[strconv.Itoa(l.Dir)] = true
	}
	entries, err := os.ReadDir(s.path("l"))
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !known[e.Name()] {
			if err := os.RemoveAll(s.path("l", e.Name())); err != nil {
				return removed, err
			}
			removed = true
		}
	}
	return removed, nil
}

// cleanTmp empties tmp/ when no process is staging in it: stagers hold a shared flock on the
// folder, so an exclusive one proves they are all gone.
func (s *Store) cleanTmp() error {
	unlock, err := flock(s.path("tmp"), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(s.path("tmp"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(s.path("tmp", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// staging marks tmp/ as in use until the returned function is called.
func (s *Store) staging() (func(), error) {
	unlock, err := flock(s.path("tmp"), unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("lock image store tmp: %w", err)
	}
	return unlock, nil
}

// flock opens path (creating a missing file) and takes a flock(2) of kind how on it. Locks taken
// through separate calls exclude each other even within one process.
func flock(path string, how int) (func(), error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EISDIR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { unix.Close(fd) }, nil
}

// writeFileAtomic replaces path with data: a temp file beside it, fsynced, renamed over it, and
// the folder fsynced. Callers hold the store lock, so one fixed temp name is enough.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeBlob stores data as the blob digest unless it is there already. Call under the store
// lock (Prune removes blobs no image names).
func (s *Store) writeBlob(digest string, data []byte) error {
	p := s.blobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := writeFileAtomic(p, data); err != nil {
		return fmt.Errorf("write blob %s: %w", digest, err)
	}
	return nil
}
