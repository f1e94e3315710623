package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/comp-dev/comp/runtime"
)

// Remove removes a reference, as `docker rmi` does. Given a tag or a digest reference it
// untags that one; given an ID it untags all of the image's references (ErrConflict, unless
// force, when there are several). An image left with no reference is deleted, with the blobs
// and layer folders no other image uses.
//
// An image in use (inUse(id) true) that would be deleted is ErrConflict unless force; with
// force it is only untagged, and stays until Prune finds it unused. inUse (may be nil) is
// called under the store lock and must not call the store.
//
// It returns what it did, as `docker rmi` prints it: "Untagged: busybox:latest",
// "Deleted: sha256:…" (the image, then the layers it took with it, by diffID).
func (s *Store) Remove(ref string, force bool, inUse func(id string) bool) ([]string, error) {
	var out, dirs, blobs []string
	err := s.updateThen(func(ix *index) error {
		r, err := ix.resolve(ref)
		if err != nil {
			return err
		}
		refs := ix.refsOf(r.id)
		var untag []string
		switch {
		case r.tag != "":
			untag = []string{r.tag}
		case r.digest != "":
			untag = []string{r.digest}
		default:
			if len(refs) > 1 && !force {
				return runtime.Classify(runtime.ErrConflict, fmt.Errorf(
					"unable to delete %s (must be forced): image is referenced in multiple repositories", shortID(r.id)))
			}
			untag = refs
		}
		deleting := len(untag) == len(refs)
		used := deleting && inUse != nil && inUse(r.id)
		if used && !force {
			return runtime.Classify(runtime.ErrConflict, fmt.Errorf(
				"unable to remove %s (must be forced): image %s is used by a container", ref, shortID(r.id)))
		}
		for _, k := range untag {
			delete(ix.Tags, k)
			delete(ix.Digests, k)
			out = append(out, "Untagged: "+k)
		}
		if deleting && !used {
			out, dirs, blobs = s.deleteImage(ix, r.id, out, dirs, blobs)
		}
		return nil
	}, func() error { return s.removeBlobs(blobs) })
	if err != nil {
		return nil, fmt.Errorf("remove image %s: %w", ref, err)
	}
	return out, removeDirs(dirs)
}

// Prune deletes the images that have no reference (tag or digest) and are not in use, the
// layers no image uses, and blobs and folders the index does not know. inUse (may be nil) is
// called under the store lock and must not call the store. It returns "Deleted: sha256:…"
// for each image and layer removed.
func (s *Store) Prune(inUse func(id string) bool) ([]string, error) {
	var out, dirs, blobs []string
	err := s.updateThen(func(ix *index) error {
		ids := make([]string, 0, len(ix.Images))
		for id := range ix.Images {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if len(ix.refsOf(id)) == 0 && (inUse == nil || !inUse(id)) {
				out, dirs, blobs = s.deleteImage(ix, id, out, dirs, blobs)
			}
		}
		used := ix.usedLayers()
		var unused []string
		for d := range ix.Layers {
			if !used[d] {
				unused = append(unused, d)
			}
		}
		sort.Strings(unused)
		for _, d := range unused {
			dirs = append(dirs, s.layerDir(ix.Layers[d].Dir))
			delete(ix.Layers, d)
			out = append(out, "Deleted: "+d)
		}
		return nil
	}, func() error {
		if err := s.removeBlobs(blobs); err != nil {
			return err
		}
		ix, err := s.readIndex()
		if err != nil {
			return err
		}
		if err := s.removeOrphanBlobs(ix); err != nil {
			return err
		}
		_, err = s.removeOrphanDirs(ix)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prune images: %w", err)
	}
	return out, removeDirs(dirs)
}

// refsOf lists the tags and digest references that name id, sorted.
func (ix *index) refsOf(id string) []string {
	var refs []string
	for k, v := range ix.Tags {
		if v == id {
			refs = append(refs, k)
		}
	}
	for k, v := range ix.Digests {
		if v == id {
			refs = append(refs, k)
		}
	}
	sort.Strings(refs)
	return refs
}

// usedLayers is the set of diffIDs some image uses.
func (ix *index) usedLayers() map[string]bool {
	used := map[string]bool{}
	for _, rec := range ix.Images {
		for _, d := range rec.DiffIDs {
			used[d] = true
		}
	}
	return used
}

// deleteImage drops image id from ix with the layers no other image uses, appending to out
// what it deleted and to dirs and blobs what to remove from disk.
func (s *Store) deleteImage(ix *index, id string, out, dirs, blobs []string) ([]string, []string, []string) {
	rec := ix.Images[id]
	delete(ix.Images, id)
	for _, k := range ix.refsOf(id) {
		delete(ix.Tags, k)
		delete(ix.Digests, k)
	}
	out = append(out, "Deleted: "+id)
	blobs = append(blobs, id)
	if rec.Manifest != "" {
		shared := false
		for _, other := range ix.Images {
			shared = shared || other.Manifest == rec.Manifest
		}
		if !shared {
			blobs = append(blobs, rec.Manifest)
		}
	}
	used := ix.usedLayers()
	for _, d := range rec.DiffIDs {
		l, ok := ix.Layers[d]
		if !ok || used[d] {
			continue
		}
		delete(ix.Layers, d)
		dirs = append(dirs, s.layerDir(l.Dir))
		out = append(out, "Deleted: "+d)
	}
	return out, dirs, blobs
}

// removeBlobs deletes blobs; call under the store lock, after the index stopped naming them.
func (s *Store) removeBlobs(digests []string) error {
	for _, d := range digests {
		if err := os.Remove(s.blobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// removeOrphanBlobs deletes blobs no image of ix names (a crash between writing the index and
// deleting them leaves some). Call under the store lock.
func (s *Store) removeOrphanBlobs(ix *index) error {
	keep := map[string]bool{}
	for id, rec := range ix.Images {
		keep[s.blobPath(id)] = true
		if rec.Manifest != "" {
			keep[s.blobPath(rec.Manifest)] = true
		}
	}
	entries, err := os.ReadDir(s.path("blobs", "sha256"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := s.path("blobs", "sha256", e.Name())
		if !keep[p] {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// removeDirs deletes layer folders the index no longer names. Their numbers are never reused,
// so this needs no lock; a crash midway leaves orphans that Open and Prune remove.
func removeDirs(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
