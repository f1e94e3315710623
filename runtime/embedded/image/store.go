// Package image is the embedded runtime's image store: content-addressed, daemonless and safe
// for several comp processes at once.
//
// On disk, under the store's root:
//
//	lock               flock(2) held around every metadata update
//	index.json         layers, images, tags and digest references (written atomically)
//	blobs/sha256/HEX   image configs and manifests, by digest
//	l/N                one unpacked layer per diffID, N a small integer that is never reused
//	tmp/               staging; whatever a crash leaves here is removed by the next Open
//
// Layers are unpacked once, into tmp/, and renamed into l/N only when complete and verified,
// so l/N is always a whole layer. OCI whiteouts are converted to overlayfs ones, so the layer
// folders of an image can be stacked as overlayfs lowerdirs as they are.
package image

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/comp-dev/comp/runtime"
)

// Image is a local image.
type Image struct {
	ID          string // config digest, sha256:…
	RepoTags    []string
	RepoDigests []string
	Size        int64 // bytes of unpacked layer content
	Created     time.Time
	Config      v1.Config
	// Layers are the unpacked layer folders, lowest first (overlayfs wants lowerdir=top:…:bottom).
	Layers []string
	// DiffIDs are the layers' uncompressed digests, in the order of Layers.
	DiffIDs []string
}

// Runtime converts the image for the runtime interface.
func (i Image) Runtime() runtime.Image {
	var labels map[string]string
	if len(i.Config.Labels) > 0 {
		labels = make(map[string]string, len(i.Config.Labels))
		for k, v := range i.Config.Labels {
			labels[k] = v
		}
	}
	return runtime.Image{
		ID:          i.ID,
		RepoTags:    append([]string(nil), i.RepoTags...),
		RepoDigests: append([]string(nil), i.RepoDigests...),
		Size:        i.Size,
		Created:     i.Created,
		Labels:      labels,
	}
}

// Store is an image store rooted at one folder. Its methods are safe for concurrent use, also
// by other processes that opened the same root.
type Store struct {
	root string

	// mu serialises this process's metadata updates; the flock on root/lock serialises
	// processes.
	mu sync.Mutex

	flightMu sync.Mutex
	flights  map[string]*flight // layer unpacks in progress in this process, by diffID

	unpacks atomic.Int64 // layers this Store has unpacked (tests check dedup with it)
}

// flight is a layer unpack other goroutines may wait for.
type flight struct {
	done chan struct{}
	err  error
}

// Open opens the store rooted at root, creating it if needed. It removes what a crashed
// process left in tmp/ (unless another process is using tmp/ right now) and layer folders the
// index does not know.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	s := &Store{root: abs, flights: map[string]*flight{}}
	for _, d := range []string{abs, s.path("l"), s.path("tmp"), s.path("blobs", "sha256")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", abs, err)
		}
	}
	if err := s.cleanTmp(); err != nil {
		return nil, fmt.Errorf("open image store %s: %w", abs, err)
	}
	// Create index.json when missing and drop orphan layer folders: both under the lock, where
	// layers are registered.
	_, statErr := os.Stat(s.path("index.json"))
	err = s.update(func(ix *index) error {
		removed, err := s.removeOrphanDirs(ix)
		if err == nil && !removed && statErr == nil {
			return errUnchanged
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", abs, err)
	}
	return s, nil
}

// Root is the folder the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

func (s *Store) layerDir(n int) string { return s.path("l", strconv.Itoa(n)) }

func (s *Store) blobPath(digest string) string {
	return s.path("blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// Get finds a local image by reference ("busybox", "busybox:1.36", "busybox@sha256:…"), by ID
// ("sha256:…") or by a unique prefix of its ID. A missing image is ErrNotFound; an ambiguous
// prefix is ErrInvalidArgument.
func (s *Store) Get(ref string) (Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return Image{}, err
	}
	r, err := ix.resolve(ref)
	if err != nil {
		return Image{}, err
	}
	return s.image(ix, r.id)
}

// List returns every local image, newest first.
func (s *Store) List() ([]Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(ix.Images))
	for id := range ix.Images {
		img, err := s.image(ix, id)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed while we read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// image builds the Image of a record of ix.
func (s *Store) image(ix *index, id string) (Image, error) {
	rec, ok := ix.Images[id]
	if !ok {
		return Image{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such image: %s", id))
	}
	raw, err := os.ReadFile(s.blobPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such image: %s: config blob missing", id))
	}
	if err != nil {
		return Image{}, fmt.Errorf("read image %s: %w", id, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return Image{}, fmt.Errorf("read image %s: config: %w", id, err)
	}
	img := Image{ID: id, Created: rec.Created, Config: cf.Config}
	for tag, tid := range ix.Tags {
		if tid == id {
			img.RepoTags = append(img.RepoTags, tag)
		}
	}
	digests := map[string]bool{}
	for _, d := range rec.RepoDigests {
		digests[d] = true
	}
	for d, did := range ix.Digests {
		if did == id {
			digests[d] = true
		}
	}
	for d := range digests {
		img.RepoDigests = append(img.RepoDigests, d)
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	for _, diffID := range rec.DiffIDs {
		l, ok := ix.Layers[diffID]
		if !ok {
			return Image{}, fmt.Errorf("read image %s: layer %s missing from the store", id, diffID)
		}
		img.Layers = append(img.Layers, s.layerDir(l.Dir))
		img.DiffIDs = append(img.DiffIDs, diffID)
		img.Size += l.Size
	}
	return img, nil
}
