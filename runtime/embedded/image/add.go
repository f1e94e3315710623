package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// incoming is an image on its way into the store, from a registry or an archive.
type incoming struct {
	id             string // config digest
	rawConfig      []byte
	config         *v1.ConfigFile
	manifestDigest string // "" when there is no manifest (docker-archive)
	rawManifest    []byte
	layers         []layerSource

	tags        []string // familiar tags to point at the image
	digestRefs  []string // familiar digest references it was pulled by
	repoDigests []string // familiar repo@digest it is known as
}

// layerSource is one layer of an incoming image.
type layerSource struct {
	id     string // short name for progress
	diffID string
	digest string // of what open returns; "" when unknown (docker-archive)
	size   int64  // of what open returns, for progress; 0 when unknown
	open   func() (io.ReadCloser, error)
}

// maxConcurrentLayers is how many layers are fetched at once, Docker's default.
const maxConcurrentLayers = 3

// errLayerGone: a layer the image needs was removed (by a prune) before the image was recorded.
var errLayerGone = errors.New("layer removed while adding the image")

// verifyConfig checks that rawConfig is the blob id names and parses it.
func verifyConfig(id string, rawConfig []byte) (*v1.ConfigFile, error) {
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(rawConfig)); got != id {
		return nil, fmt.Errorf("image config %s: %w: content has digest %s", id, errDigest, got)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w", id, err)
	}
	return cf, nil
}

// add unpacks the layers of in that the store lacks, then records the image and points its
// references at it. Layers are never unpacked twice, also across processes.
func (s *Store) add(ctx context.Context, in incoming, rep *reporter) (Image, error) {
	if len(in.config.RootFS.DiffIDs) != len(in.layers) {
		return Image{}, fmt.Errorf("image %s: config lists %d layers, manifest %d",
			in.id, len(in.config.RootFS.DiffIDs), len(in.layers))
	}
	for attempt := 0; ; attempt++ {
		if err := s.fetchLayers(ctx, in.layers, rep); err != nil {
			return Image{}, err
		}
		err := s.update(func(ix *index) error {
			diffIDs := make([]string, len(in.layers))
			for i, l := range in.layers {
				if _, ok := ix.Layers[l.diffID]; !ok {
					return errLayerGone
				}
				diffIDs[i] = l.diffID
			}
			if err := s.writeBlob(in.id, in.rawConfig); err != nil {
				return err
			}
			if in.manifestDigest != "" {
				if err := s.writeBlob(in.manifestDigest, in.rawManifest); err != nil {
					return err
				}
			}
			rec, ok := ix.Images[in.id]
			if !ok {
				rec = &imageRecord{}
				ix.Images[in.id] = rec
			}
			rec.DiffIDs = diffIDs
			rec.Created = in.config.Created.Time
			if in.manifestDigest != "" {
				rec.Manifest = in.manifestDigest
			}
			for _, d := range in.repoDigests {
				if !slices.Contains(rec.RepoDigests, d) {
					rec.RepoDigests = append(rec.RepoDigests, d)
				}
			}
			for _, t := range in.tags {
				ix.Tags[t] = in.id
			}
			for _, d := range in.digestRefs {
				ix.Digests[d] = in.id
			}
			return nil
		})
		if errors.Is(err, errLayerGone) && attempt < 3 {
			continue
		}
		if err != nil {
			return Image{}, err
		}
		ix, err := s.readIndex()
		if err != nil {
			return Image{}, err
		}
		return s.image(ix, in.id)
	}
}

// fetchLayers makes sure every layer is in the store, a few at a time, and reports progress.
func (s *Store) fetchLayers(ctx context.Context, layers []layerSource, rep *reporter) error {
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	var missing []layerSource
	seen := map[string]bool{}
	for _, l := range layers {
		if seen[l.diffID] {
			continue
		}
		seen[l.diffID] = true
		if _, ok := ix.Layers[l.diffID]; ok {
			rep.send(runtime.PullProgress{Layer: l.id, Status: "Already exists"})
			continue
		}
		rep.send(runtime.PullProgress{Layer: l.id, Status: "Pulling fs layer"})
		missing = append(missing, l)
	}
	if len(missing) == 0 {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, maxConcurrentLayers)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	for _, l := range missing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			fresh, err := s.ensureLayer(ctx, l, rep.downloading(l))
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				errMu.Unlock()
				return
			}
			status := "Pull complete"
			if !fresh {
				status = "Already exists"
			}
			rep.send(runtime.PullProgress{Layer: l.id, Status: status})
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// ensureLayer makes sure the layer is in the store and reports whether this call unpacked it.
// Goroutines of this process wanting the same layer wait for the one unpacking it; another
// process may unpack it at the same time, and then one copy is thrown away.
func (s *Store) ensureLayer(ctx context.Context, src layerSource, onRead func(int64)) (bool, error) {
	for {
		ix, err := s.readIndex()
		if err != nil {
			return false, err
		}
		if _, ok := ix.Layers[src.diffID]; ok {
			return false, nil
		}
		s.flightMu.Lock()
		if f, ok := s.flights[src.diffID]; ok {
			s.flightMu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			// Look again: it is there now, or the other attempt failed and this one tries.
			continue
		}
		f := &flight{done: make(chan struct{})}
		s.flights[src.diffID] = f
		s.flightMu.Unlock()

		f.err = s.unpackLayer(ctx, src, onRead)

		s.flightMu.Lock()
		delete(s.flights, src.diffID)
		s.flightMu.Unlock()
		close(f.done)
		return f.err == nil, f.err
	}
}

// unpackLayer unpacks src into tmp/, verified, and renames it into l/N, registering it.
func (s *Store) unpackLayer(ctx context.Context, src layerSource, onRead func(int64)) error {
	dir, err := os.MkdirTemp(s.path("tmp"), "layer-")
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", src.diffID, err)
	}
	defer os.RemoveAll(dir) // gone already once renamed into place
	rc, err := src.open()
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", src.id, err)
	}
	s.unpacks.Add(1)
	size, err := unpackStream(ctx, rc, src.digest, src.diffID, dir, onRead)
	rc.Close()
	if err != nil {
		return fmt.Errorf("layer %s: %w", src.id, err)
	}
	// Make the content durable before the layer becomes visible.
	if err := syncFS(dir); err != nil {
		return fmt.Errorf("unpack layer %s: %w", src.diffID, err)
	}
	return s.update(func(ix *index) error {
		if _, ok := ix.Layers[src.diffID]; ok {
			return nil // another process was faster; this copy is removed
		}
		n := ix.NextLayer
		ix.NextLayer++
		dst := s.layerDir(n)
		// Numbers are never reused, but a crash before the index was written may have left one.
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Rename(dir, dst); err != nil {
			return fmt.Errorf("unpack layer %s: %w", src.diffID, err)
		}
		ix.Layers[src.diffID] = &layerRecord{Dir: n, Size: size}
		return nil
	})
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// reporter sends progress of one pull to a callback, one call at a time.
type reporter struct {
	ref string
	mu  sync.Mutex
	fn  func(runtime.PullProgress)
}

func (r *reporter) send(p runtime.PullProgress) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Ref = r.ref
	r.fn(p)
}

// downloading returns a byte counter for one layer that reports "Downloading" at most every
// 100ms, and at the end.
func (r *reporter) downloading(l layerSource) func(int64) {
	if r == nil || r.fn == nil {
		return nil
	}
	var last time.Time
	return func(n int64) {
		if now := time.Now(); now.Sub(last) >= 100*time.Millisecond || n == l.size {
			last = now
			r.send(runtime.PullProgress{Layer: l.id, Status: "Downloading", Current: n, Total: l.size})
		}
	}
}
