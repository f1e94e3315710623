package image

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/comp-dev/comp/runtime"
)

// twoImages pulls base:1 and app:1 (base plus one layer) into s.
func twoImages(t *testing.T, s *Store) (reg *testregistry.Registry, base, app Image) {
	t.Helper()
	b := busybox(t)
	reg = pushed(t, "base:1", b)
	push(t, reg, "app:1", withLayers(t, b, layer(t, file("app", "v1"))))
	return reg, pull(t, s, reg.Ref("base:1")), pull(t, s, reg.Ref("app:1"))
}

func TestRemoveDeletesTheLayersNoOtherImageUses(t *testing.T) {
	s := newStore(t)
	reg, base, app := twoImages(t, s)
	appLayerDiffID := diffIDsOf(t, s, app)[1]

	out, err := s.Remove(reg.Ref("app:1"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Untagged: " + reg.Ref("app:1"), "Deleted: " + app.ID, "Deleted: " + appLayerDiffID}
	if !slices.Equal(out, want) {
		t.Errorf("Remove = %v, want %v", out, want)
	}
	if _, err := os.Stat(app.Layers[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app's own layer folder: %v, want it removed", err)
	}
	if _, err := os.Stat(base.Layers[0]); err != nil {
		t.Errorf("the shared layer folder: %v, want it kept", err)
	}
	if _, err := s.Get(reg.Ref("base:1")); err != nil {
		t.Errorf("base after removing app: %v", err)
	}
	if _, err := s.Get(app.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get(app) = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(s.blobPath(app.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app's config blob: %v, want it removed", err)
	}

	if _, err := s.Remove(base.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, folder := range []string{"l", "blobs/sha256", "tmp"} {
		if got := entries(t, s, folder); len(got) != 0 {
			t.Errorf("%s/ keeps %v after removing every image", folder, got)
		}
	}
}

func TestRemoveOfAnImageInUse(t *testing.T) {
	s := newStore(t)
	reg, _, app := twoImages(t, s)
	inUse := func(id string) bool { return id == app.ID }

	if _, err := s.Remove(reg.Ref("app:1"), false, inUse); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("Remove of an image in use = %v, want ErrConflict", err)
	}
	if got, err := s.Get(reg.Ref("app:1")); err != nil || got.ID != app.ID {
		t.Fatalf("a refused Remove changed the image: %v", err)
	}

	out, err := s.Remove(reg.Ref("app:1"), true, inUse)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, []string{"Untagged: " + reg.Ref("app:1")}) {
		t.Errorf("forced Remove of an image in use = %v, want it only untagged", out)
	}
	if got, err := s.Get(app.ID); err != nil || len(got.RepoTags) != 0 {
		t.Errorf("the image in use after a forced Remove: %+v, %v; want it kept, untagged", got, err)
	}
	for _, l := range app.Layers {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("layer of an image in use: %v", err)
		}
	}

	if out, err := s.Prune(inUse); err != nil || len(out) != 0 {
		t.Errorf("Prune while in use = %v, %v; want nothing removed", out, err)
	}
	out, err = s.Prune(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out, "Deleted: "+app.ID) || len(out) != 2 {
		t.Errorf("Prune once unused = %v, want the image and its own layer", out)
	}
	if _, err := os.Stat(app.Layers[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned layer folder: %v, want it removed", err)
	}
	if _, err := os.Stat(app.Layers[0]); err != nil {
		t.Errorf("shared layer folder after Prune: %v", err)
	}
}

func TestRemoveByIDOfAnImageWithSeveralTags(t *testing.T) {
	s := newStore(t)
	img := busybox(t)
	reg := pushed(t, "a:1", img)
	push(t, reg, "b:1", img)
	got := pull(t, s, reg.Ref("a:1"))
	pull(t, s, reg.Ref("b:1"))

	if _, err := s.Remove(got.ID, false, nil); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("Remove by ID of an image with two tags = %v, want ErrConflict", err)
	}
	out, err := s.Remove(got.ID[7:19], true, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Untagged: " + reg.Ref("a:1"), "Untagged: " + reg.Ref("b:1"), "Deleted: " + got.ID}
	if len(out) != 4 || !slices.Equal(out[:3], want) {
		t.Errorf("forced Remove = %v, want %v and the layer", out, want)
	}
}

func TestRemoveOfAnUnknownImage(t *testing.T) {
	s := newStore(t)
	if _, err := s.Remove("nosuch", false, nil); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Remove(nosuch) = %v, want ErrNotFound", err)
	}
}

func TestPruneRemovesImagesLeftWithoutATag(t *testing.T) {
	s := newStore(t)
	b := busybox(t)
	reg := pushed(t, "app:latest", withLayers(t, b, layer(t, file("app", "v1"))))
	old := pull(t, s, reg.Ref("app"))
	push(t, reg, "app:latest", withLayers(t, b, layer(t, file("app", "v2"))))
	cur := pull(t, s, reg.Ref("app"))

	if got, err := s.Get(old.ID); err != nil || len(got.RepoTags) != 0 {
		t.Fatalf("the old image after its tag moved: %+v, %v; want it untagged", got, err)
	}
	// A crash may leave a layer folder the index does not know.
	if err := os.Mkdir(s.layerDir(99), 0o700); err != nil {
		t.Fatal(err)
	}

	want := []string{"Deleted: " + old.ID, "Deleted: " + diffIDsOf(t, s, old)[1]}
	out, err := s.Prune(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, want) {
		t.Errorf("Prune = %v, want %v", out, want)
	}
	if dirs := entries(t, s, "l"); len(dirs) != 2 {
		t.Errorf("layer folders after Prune = %v, want the 2 of the current image", dirs)
	}
	if _, err := s.Get(reg.Ref("app")); err != nil {
		t.Errorf("current image after Prune: %v", err)
	}
	for _, l := range cur.Layers {
		if _, err := os.Stat(l); err != nil {
			t.Error(err)
		}
	}
}

// diffIDsOf reads an image's layer diffIDs from the index.
func diffIDsOf(t *testing.T, s *Store, img Image) []string {
	t.Helper()
	ix, err := s.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := ix.Images[img.ID]
	if !ok {
		t.Fatalf("image %s not in the index", img.ID)
	}
	return rec.DiffIDs
}
