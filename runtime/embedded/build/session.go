package build

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// session is the scratch folder of one build: Builder.Dir/<random>/, holding a lock file
// flocked for the life of the build and one folder per step (its overlay, upper folder and
// layer tar, and the ID of a RUN's container while it runs).
type session struct {
	b    *Builder
	dir  string
	lock *os.File

	mu    sync.Mutex
	steps int
}

// openSession makes a build's scratch folder, after removing those that crashed builds left.
// Both happen under Dir/.lock, so that no build mistakes another's folder, half made, for a
// crashed one's.
func (b *Builder) openSession() (*session, error) {
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	unlock, err := lockFile(filepath.Join(b.Dir, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer unlock()
	b.removeStale()
	buf := make([]byte, 4)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	dir := filepath.Join(b.Dir, hex.EncodeToString(buf))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build: lock %s: %w", dir, err)
	}
	return &session{b: b, dir: dir, lock: lock}, nil
}

// stepDir makes the folder of the next step.
func (s *session) stepDir() (string, error) {
	s.mu.Lock()
	s.steps++
	n := s.steps
	s.mu.Unlock()
	dir := filepath.Join(s.dir, strconv.Itoa(n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return dir, nil
}

// close removes the session's folder: every mount and container is gone by then, but a
// failure midway may have left one, so clean as a crashed build's.
func (s *session) close() {
	s.b.clean(s.dir)
	s.lock.Close()
}

// removeStale removes the folders of builds that no longer run: their lock is free. Call it
// under Dir/.lock.
func (b *Builder) removeStale() {
	entries, err := os.ReadDir(b.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(b.Dir, e.Name())
		f, err := os.Open(filepath.Join(dir, "lock"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// A crash between making the folder and its lock: nothing is mounted yet.
				b.clean(dir)
			}
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			b.clean(dir)
		}
		f.Close()
	}
}

// clean destroys what a build left in dir (containers, overlay mounts) and removes it.
func (b *Builder) clean(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		step := filepath.Join(dir, e.Name())
		if id, err := os.ReadFile(filepath.Join(step, "container")); err == nil && b.Containers != nil {
			if c, err := b.Containers.Load(strings.TrimSpace(string(id))); err == nil {
				_ = c.Destroy()
			}
		}
		_ = unmountOverlay(step)
		_ = unmountOverlay(filepath.Join(step, "src"))
		// A RUN's mounts: overlays of stages and images, and its secrets' tmpfs.
		mnts, _ := os.ReadDir(filepath.Join(step, "mnt"))
		for _, m := range mnts {
			_ = unmountOverlay(filepath.Join(step, "mnt", m.Name()))
		}
		_ = unix.Unmount(filepath.Join(step, secretsDir), unix.MNT_DETACH)
	}
	_ = os.RemoveAll(dir)
}
