package image

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestOpenRemovesWhatACrashLeft(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "busybox:latest", busybox(t))
	img := pull(t, s, reg.Ref("busybox:latest"))

	// A crash mid-unpack leaves a half layer in tmp/; one between the rename into l/ and the
	// index write leaves a folder the index does not know; one mid index write a temp file.
	half := filepath.Join(s.Root(), "tmp", "x")
	if err := os.MkdirAll(filepath.Join(half, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "usr/bin/half"), []byte("ha"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.layerDir(7), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "index.json.tmp"), []byte("{trunc"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s2, "tmp"); len(got) != 0 {
		t.Errorf("tmp/ after Open = %v, want it empty", got)
	}
	if got := entries(t, s2, "l"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("l/ after Open = %v, want only the known layer", got)
	}
	got, err := s2.Get(reg.Ref("busybox:latest"))
	if err != nil || got.ID != img.ID {
		t.Errorf("Get after Open = %v, %v", got.ID, err)
	}
	// The next layer gets a fresh number, never the orphan's.
	push(t, reg, "app:1", withLayers(t, busybox(t), layer(t, file("a", "1"))))
	app := pull(t, s2, reg.Ref("app:1"))
	if app.Layers[1] != s2.layerDir(2) {
		t.Errorf("new layer at %s, want %s", app.Layers[1], s2.layerDir(2))
	}
}

func TestOpenLeavesTmpAloneWhileAnotherStoreStages(t *testing.T) {
	s := newStore(t)
	done, err := s.staging()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	busy := filepath.Join(s.Root(), "tmp", "layer-busy")
	if err := os.Mkdir(busy, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Root()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("Open removed a folder another store is staging in: %v", err)
	}
}

func TestLayerPathsStayShort(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "busybox:latest", busybox(t))
	img := pull(t, s, reg.Ref("busybox:latest"))
	// overlayfs options fit in one page: a layer path must not grow with digests.
	if rel, _ := filepath.Rel(s.Root(), img.Layers[0]); rel != "l/1" {
		t.Errorf("layer at %s, want l/1 under the root", rel)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "index.json.tmp")); !os.IsNotExist(err) {
		t.Errorf("index.json.tmp left after an update: %v", err)
	}
}
