package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

const indexVersion = 1

// index is the store's metadata, kept in root/index.json.
type index struct {
	Version   int                     `json:"version"`
	NextLayer int                     `json:"nextLayer"`
	Layers    map[string]*layerRecord `json:"layers"`  // by diffID
	Images    map[string]*imageRecord `json:"images"`  // by ID
	Tags      map[string]string       `json:"tags"`    // "busybox:latest" -> ID
	Digests   map[string]string       `json:"digests"` // "busybox@sha256:…" -> ID, for images pulled by digest
}

type layerRecord struct {
	Dir  int   `json:"dir"` // root/l/Dir
	Size int64 `json:"size"`
}

type imageRecord struct {
	// Manifest is the digest of the image manifest in blobs/, "" for a docker-archive load.
	Manifest    string    `json:"manifest,omitempty"`
	DiffIDs     []string  `json:"diffIDs"`
	Created     time.Time `json:"created"`
	RepoDigests []string  `json:"repoDigests,omitempty"`
}

func newIndex() *index {
	return &index{
		Version:   indexVersion,
		NextLayer: 1,
		Layers:    map[string]*layerRecord{},
		Images:    map[string]*imageRecord{},
		Tags:      map[string]string{},
		Digests:   map[string]string{},
	}
}

// resolved is what a user's reference names in an index.
type resolved struct {
	id string
	// tag or digest is the reference the user named, "" when named by ID.
	tag, digest string
}

// resolve finds ref in ix: an ID, a tag, a digest reference, then a unique ID prefix.
func (ix *index) resolve(ref string) (resolved, error) {
	if hex, ok := strings.CutPrefix(ref, "sha256:"); ok && len(hex) == 64 {
		if _, ok := ix.Images[ref]; ok {
			return resolved{id: ref}, nil
		}
		return resolved{}, noSuchImage(ref)
	}
	if r, err := parseRef(ref); err == nil {
		key := familiar(r)
		if id, ok := ix.Tags[key]; ok {
			return resolved{id: id, tag: key}, nil
		}
		if id, ok := ix.Digests[key]; ok {
			return resolved{id: id, digest: key}, nil
		}
		for id, rec := range ix.Images {
			for _, d := range rec.RepoDigests {
				if d == key {
					return resolved{id: id}, nil
				}
			}
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if prefix == "" || strings.Trim(prefix, "0123456789abcdef") != "" {
		return resolved{}, noSuchImage(ref)
	}
	var found []string
	for id := range ix.Images {
		if strings.HasPrefix(id, "sha256:"+prefix) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return resolved{}, noSuchImage(ref)
	case 1:
		return resolved{id: found[0]}, nil
	}
	return resolved{}, runtime.Classify(runtime.ErrInvalidArgument,
		fmt.Errorf("image ID prefix %s is ambiguous: it matches %d images", ref, len(found)))
}

func noSuchImage(ref string) error {
	return runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such image: %s", ref))
}

// readIndex reads index.json. It needs no lock: the file is only ever replaced by rename.
func (s *Store) readIndex() (*index, error) {
	ix := newIndex()
	raw, err := os.ReadFile(s.path("index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(raw, ix); err != nil {
		return nil, fmt.Errorf("read image index %s: %w", s.path("index.json"), err)
	}
	if ix.Version != indexVersion {
		return nil, fmt.Errorf("read image index %s: unsupported version %d", s.path("index.json"), ix.Version)
	}
	// A hand-edited "null" must not make the next update write to a nil map.
	if ix.Layers == nil {
		ix.Layers = map[string]*layerRecord{}
	}
	if ix.Images == nil {
		ix.Images = map[string]*imageRecord{}
	}
	if ix.Tags == nil {
		ix.Tags = map[string]string{}
	}
	if ix.Digests == nil {
		ix.Digests = map[string]string{}
	}
	return ix, nil
}

// update runs fn on the current index under the store lock and writes the result if fn
// succeeds. fn may register layer folders and write blobs: nobody else does while it runs.
func (s *Store) update(fn func(ix *index) error) error { return s.updateThen(fn, nil) }

// updateThen is update, and then runs after (when not nil) still under the lock: the place to
// delete blobs the new index no longer names.
func (s *Store) updateThen(fn func(ix *index) error, after func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := flock(s.path("lock"), unix.LOCK_EX)
	if err != nil {
		return fmt.Errorf("lock image store: %w", err)
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(ix); errors.Is(err, errUnchanged) {
		return nil
	} else if err != nil {
		return err
	}
	data, err := json.MarshalIndent(ix, "", "\t")
	if err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if err := writeFileAtomic(s.path("index.json"), data); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if after != nil {
		return after()
	}
	return nil
}

// errUnchanged from an update function means there is nothing to write.
var errUnchanged = errors.New("index unchanged")
