package build

import (
	"encoding/json"
	"errors"
	"fmt"
	embeddedstate "github.com/comp-dev/comp/runtime/embedded/state"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime/embedded/image"
)

const (
	cacheVersion = 1
	// maxCacheEntries bounds the index: past it, the entries used longest ago go.
	maxCacheEntries = 20000
)

// cache is the build cache index, <store root>/build-cache.json: step keys to the layers the
// steps made. It is read once per build and written, under a lock, when a stage is stored.
type cache struct {
	path    string
	entries map[string]cacheEntry
}

// cacheEntry is what a step made.
type cacheEntry struct {
	// DiffID is the layer the step made, "" when it changed no file.
	DiffID string `json:"diffID,omitempty"`
	// Image holds the layer, on top of the layers the step started from.
	Image   string    `json:"image,omitempty"`
	Created time.Time `json:"created"`
	Used    time.Time `json:"used"`
}

type cacheFile struct {
	Version int                   `json:"version"`
	Entries map[string]cacheEntry `json:"entries"`
}

// openCache reads the cache index kept beside the image store of root.
func openCache(root string) (*cache, error) {
	c := &cache{path: filepath.Join(root, "build-cache.json")}
	f, err := c.read()
	if err != nil {
		return nil, err
	}
	c.entries = f.Entries
	return c, nil
}

func (c *cache) read() (*cacheFile, error) {
	f := &cacheFile{Version: cacheVersion, Entries: map[string]cacheEntry{}}
	raw, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build cache: %w", err)
	}
	if err := json.Unmarshal(raw, f); err != nil || f.Version != cacheVersion {
		// An index we cannot read is only a cache: start a new one.
		return &cacheFile{Version: cacheVersion, Entries: map[string]cacheEntry{}}, nil
	}
	if f.Entries == nil {
		f.Entries = map[string]cacheEntry{}
	}
	return f, nil
}

func (c *cache) get(key string) (cacheEntry, bool) {
	e, ok := c.entries[key]
	return e, ok
}

// record adds entries to the index, under its lock, and drops those whose image the store no
// longer has. The file is replaced atomically.
func (c *cache) record(images *image.Store, entries map[string]cacheEntry) error {
	unlock, err := lockFile(c.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock build cache: %w", err)
	}
	defer unlock()
	f, err := c.read()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for k, e := range entries {
		e.Used = now
		f.Entries[k] = e
		c.entries[k] = e
	}
	list, err := images.List()
	if err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	live := map[string]bool{}
	for _, img := range list {
		live[img.ID] = true
	}
	for k, e := range f.Entries {
		if e.Image != "" && !live[e.Image] {
			delete(f.Entries, k)
		}
	}
	if len(f.Entries) > maxCacheEntries {
		keys := make([]string, 0, len(f.Entries))
		for k := range f.Entries {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return f.Entries[keys[i]].Used.Before(f.Entries[keys[j]].Used) })
		for _, k := range keys[:len(keys)-maxCacheEntries] {
			delete(f.Entries, k)
		}
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("write build cache: %w", err)
	}
	if err := writeFileAtomic(c.path, data); err != nil {
		return fmt.Errorf("write build cache: %w", err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, created if missing.
func lockFile(path string) (func(), error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
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

// writeFileAtomic replaces path with data, atomically.
func writeFileAtomic(path string, data []byte) error {
	return embeddedstate.WriteFileAtomic(path, data)
}
