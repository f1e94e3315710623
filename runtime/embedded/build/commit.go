package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/comp-dev/comp/runtime/embedded/image"
)

// commit stores st as an image tagged tags, records its steps in the cache and points st's
// layers at the store's folders.
func (bd *build) commit(ctx context.Context, st *state, tags []string) (image.Image, error) {
	cf := v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Author:       st.author,
		Created:      v1.Time{Time: st.created},
		Config:       st.config,
		RootFS:       v1.RootFS{Type: "layers"},
	}
	layers := map[v1.Hash]layer{}
	for _, l := range st.layers {
		h, err := v1.NewHash(l.diffID)
		if err != nil {
			return image.Image{}, fmt.Errorf("build: layer %s: %w", l.diffID, err)
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
		if _, ok := layers[h]; !ok || l.tar != "" {
			layers[h] = l
		}
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return image.Image{}, fmt.Errorf("build: image config: %w", err)
	}
	img, err := partial.UncompressedToImage(&builtImage{config: raw, layers: layers})
	if err != nil {
		return image.Image{}, fmt.Errorf("build: %w", err)
	}
	stored, err := bd.Images.Put(ctx, img, tags)
	if err != nil {
		return image.Image{}, fmt.Errorf("build: store the image: %w", err)
	}
	for k := range st.layers {
		st.layers[k] = layer{diffID: stored.DiffIDs[k], dir: stored.Layers[k]}
	}
	if err := bd.recordSteps(st, stored.ID); err != nil {
		return image.Image{}, err
	}
	return stored, nil
}

// recordSteps writes the cache entries of st's steps: the layers they made are in image id
// ("" when st was not stored: then only the steps that made no layer are recorded).
func (bd *build) recordSteps(st *state, id string) error {
	entries := map[string]cacheEntry{}
	for _, r := range st.steps {
		if r.diffID != "" && id == "" {
			continue
		}
		e := cacheEntry{DiffID: r.diffID, Created: r.created}
		if r.diffID != "" {
			e.Image = id
		}
		entries[r.key] = e
	}
	st.steps = nil
	if len(entries) == 0 {
		return nil
	}
	return bd.cache.record(bd.Images, entries)
}

// commitPartial stores, untagged, what a stage that failed had made so far, so that the cache
// keeps it. It does nothing when the stage made no layer of its own.
func (bd *build) commitPartial(ctx context.Context, st *state) {
	if st.made() {
		_, _ = bd.commit(context.WithoutCancel(ctx), st, nil)
	}
}

// made reports whether this build made a layer of st (one the store does not have yet).
func (st *state) made() bool {
	for _, l := range st.layers {
		if l.tar != "" {
			return true
		}
	}
	return false
}

// builtImage is the image of a state, for Store.Put: its config and layers, uncompressed.
type builtImage struct {
	config []byte
	layers map[v1.Hash]layer
}

func (b *builtImage) RawConfigFile() ([]byte, error)      { return b.config, nil }
func (b *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (b *builtImage) LayerByDiffID(h v1.Hash) (partial.UncompressedLayer, error) {
	l, ok := b.layers[h]
	if !ok {
		return nil, fmt.Errorf("no layer %s", h)
	}
	return &builtLayer{diffID: h, tar: l.tar}, nil
}

// builtLayer is a layer of a built image: a tar this build wrote, or one of the store's.
type builtLayer struct {
	diffID v1.Hash
	tar    string
}

func (l *builtLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l *builtLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

func (l *builtLayer) Uncompressed() (io.ReadCloser, error) {
	if l.tar == "" {
		// The store found no layer of this diffID: an image was removed during the build.
		return nil, fmt.Errorf("layer %s is no longer in the image store (removed during the build?)", l.diffID)
	}
	return os.Open(l.tar)
}
