package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/runtime"
)

func TestLoadStoresEveryImageOfADockerArchive(t *testing.T) {
	s := newStore(t)
	base := busybox(t)
	app := withLayers(t, base, layer(t, file("app", "v1")))
	var archive bytes.Buffer
	err := tarball.MultiWrite(map[name.Tag]v1.Image{
		name.MustParseReference("example.com/base:1").(name.Tag):      base,
		name.MustParseReference("app:2").(name.Tag):                   app,
		name.MustParseReference("docker.io/library/app:3").(name.Tag): app,
	}, &archive)
	if err != nil {
		t.Fatal(err)
	}

	imgs, err := s.Load(&archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("Load returned %d images, want 2", len(imgs))
	}
	got, err := s.Get("app:3")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, app) || !slices.Equal(got.RepoTags, []string{"app:2", "app:3"}) || len(got.Layers) != 2 {
		t.Errorf("app = %+v, want its ID, both tags and 2 layers", got)
	}
	b, err := s.Get("example.com/base:1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Layers[0] != got.Layers[0] {
		t.Errorf("base layer %s, app's %s: want one shared folder", b.Layers[0], got.Layers[0])
	}
	if dirs := entries(t, s, "l"); len(dirs) != 2 {
		t.Errorf("layer folders = %v, want 2", dirs)
	}
	if content, err := os.ReadFile(filepath.Join(got.Layers[1], "app")); err != nil || string(content) != "v1" {
		t.Errorf("app = %q (%v)", content, err)
	}
	if tmp := entries(t, s, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ keeps %v", tmp)
	}
}

func TestLoadOfAPulledImageDoesNoLayerWork(t *testing.T) {
	s := newStore(t)
	img := busybox(t)
	reg := pushed(t, "busybox:latest", img)
	pull(t, s, reg.Ref("busybox:latest"))
	unpacks := s.unpacks.Load()

	var archive bytes.Buffer
	if err := tarball.Write(name.MustParseReference("busybox:saved"), img, &archive); err != nil {
		t.Fatal(err)
	}
	loaded, err := s.Load(&archive)
	if err != nil {
		t.Fatal(err)
	}
	if s.unpacks.Load() != unpacks {
		t.Error("Load unpacked a layer the store had")
	}
	if !slices.Equal(loaded[0].RepoTags, []string{reg.Ref("busybox:latest"), "busybox:saved"}) {
		t.Errorf("RepoTags = %v, want the pulled and the loaded tag", loaded[0].RepoTags)
	}
}

func TestLoadStoresTheImagesOfAnOCILayout(t *testing.T) {
	s := newStore(t)
	base := busybox(t)
	app := withLayers(t, base, layer(t, file("app", "v1")))
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(base, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "example.com/oci/base:1",
	})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(app, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/library/app:2",
		"org.opencontainers.image.ref.name": "2",
	})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(busybox(t, testimage.WithCmd("true")), layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "latest", // a bare tag names no repository
	})); err != nil {
		t.Fatal(err)
	}

	imgs, err := s.Load(bytes.NewReader(tarFolder(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 3 {
		t.Fatalf("Load returned %d images, want 3", len(imgs))
	}
	for i, want := range [][]string{{"example.com/oci/base:1"}, {"app:2"}, nil} {
		if !slices.Equal(imgs[i].RepoTags, want) {
			t.Errorf("image %d: RepoTags = %v, want %v", i, imgs[i].RepoTags, want)
		}
	}
	if imgs[1].ID != configName(t, app) || imgs[1].Layers[0] != imgs[0].Layers[0] {
		t.Errorf("app = %+v, want its ID and the base layer shared", imgs[1])
	}
	if dirs := entries(t, s, "l"); len(dirs) != 2 {
		t.Errorf("layer folders = %v, want 2", dirs)
	}
}

func TestLoadRefusesALayerThatDoesNotMatchItsDiffID(t *testing.T) {
	s := newStore(t)
	img := withLayers(t, busybox(t), layer(t, file("app", "v1")))
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	base, err := busybox(t).Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := base[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	var baseTar bytes.Buffer
	baseTar.ReadFrom(rc)
	rc.Close()
	manifest, _ := json.Marshal([]map[string]any{{
		"Config": "config.json", "RepoTags": []string{"bad:1"}, "Layers": []string{"base.tar", "app.tar"},
	}})
	archive := tarBytes(t,
		file("manifest.json", string(manifest)),
		file("config.json", string(rawConfig)),
		file("base.tar", baseTar.String()),
		file("app.tar", string(tarBytes(t, file("app", "v2")))), // not the layer the config names
	)

	_, err = s.Load(bytes.NewReader(archive))
	if !errors.Is(err, errDigest) {
		t.Fatalf("Load error = %v, want a digest mismatch", err)
	}
	if _, err := s.Get("bad:1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get after a refused load: %v, want ErrNotFound", err)
	}
	if dirs := entries(t, s, "l"); len(dirs) > 1 {
		t.Errorf("layer folders %v, want at most the good base layer", dirs)
	}
	if tmp := entries(t, s, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ keeps %v", tmp)
	}
}

func TestLoadRefusesWhatIsNotAnImageArchive(t *testing.T) {
	s := newStore(t)
	for name, archive := range map[string][]byte{
		"a tar of something else":      tarBytes(t, file("README", "hi")),
		"not a tar":                    []byte("hello"),
		"an entry leaving the archive": tarBytes(t, file("../manifest.json", "[]")),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Load(bytes.NewReader(archive)); !errors.Is(err, runtime.ErrInvalidArgument) {
				t.Errorf("Load error = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// tarFolder tars the files of root, with paths relative to it.
func tarFolder(t *testing.T, root string) []byte {
	t.Helper()
	var out []tarEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out = append(out, dir(rel+"/"))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, file(rel, string(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tarBytes(t, out...)
}
