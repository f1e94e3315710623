package build

import (
	"context"
	"slices"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// cached looks a step's key up in the cache. On a hit it gives st the layer the step made
// before (if it made one), reports the step CACHED and returns true.
func (bd *build) cached(st *state, key, label string) bool {
	if bd.spec.NoCache || st.noCache {
		return false
	}
	e, ok := bd.cache.get(key)
	if !ok {
		return false
	}
	var l *layer
	if e.DiffID != "" {
		// The layer is found in an image that holds it on top of the same layers.
		img, err := bd.Images.Get(e.Image)
		if err != nil {
			return false
		}
		n := len(st.layers)
		if len(img.DiffIDs) <= n || img.DiffIDs[n] != e.DiffID || !slices.Equal(img.DiffIDs[:n], st.diffIDs()) {
			return false
		}
		l = &layer{diffID: e.DiffID, dir: img.Layers[n]}
		st.layers = append(st.layers, *l)
		if e.Created.After(st.created) {
			st.created = e.Created
		}
	}
	st.record(key, l, e.Created)
	bd.progress(runtime.BuildProgress{Step: label, Text: "CACHED"})
	return true
}

// change runs fn on the root of an overlay of st's layers with a fresh upper folder; what fn
// changed there becomes st's next layer (none when it changed nothing).
func (bd *build) change(ctx context.Context, st *state, key string, fn func(rootfs string) error) error {
	dir, err := bd.sess.stepDir()
	if err != nil {
		return err
	}
	rootfs, err := mountOverlay(st.dirs(), dir)
	if err != nil {
		return err
	}
	ferr := fn(rootfs)
	uerr := unmountOverlay(dir)
	if ferr != nil {
		return ferr
	}
	if uerr != nil {
		return uerr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := captureLayer(dir)
	if err != nil {
		return err
	}
	created := st.created
	if l != nil {
		created = time.Now().UTC().Truncate(time.Second)
		st.layers = append(st.layers, *l)
		st.created = created
	}
	st.record(key, l, created)
	return nil
}
