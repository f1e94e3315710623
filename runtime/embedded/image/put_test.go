package image

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/comp-dev/comp/runtime"
)

func TestPutStoresAnImageBuiltInMemoryAndTagsIt(t *testing.T) {
	s := newStore(t)
	img := withLayers(t, busybox(t), layer(t, dir("app/"), file("app/main", "v1")))

	got, err := s.Put(context.Background(), img, []string{"app", "example.com/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, img) {
		t.Errorf("ID = %s, want the config digest %s", got.ID, configName(t, img))
	}
	if !slices.Equal(got.RepoTags, []string{"app:latest", "example.com/app:1"}) || len(got.RepoDigests) != 0 {
		t.Errorf("tags %v, digests %v: want both tags, normalised, and no digest", got.RepoTags, got.RepoDigests)
	}
	if !slices.Equal(got.DiffIDs, diffIDs(t, img)) || len(got.Layers) != 2 {
		t.Errorf("DiffIDs = %v, layers %v: want the image's", got.DiffIDs, got.Layers)
	}
	if b, err := os.ReadFile(filepath.Join(got.Layers[1], "app/main")); err != nil || string(b) != "v1" {
		t.Errorf("app/main = %q (%v)", b, err)
	}
	byTag, err := s.Get("app")
	if err != nil || byTag.ID != got.ID {
		t.Errorf("Get(app) = %s, %v", byTag.ID, err)
	}
	if tmp := entries(t, s, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ keeps %v", tmp)
	}
}

func TestPutReadsOnlyTheLayersTheStoreLacks(t *testing.T) {
	s := newStore(t)
	base := busybox(t)
	first, err := s.Put(context.Background(), base, []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	unpacks := s.unpacks.Load()

	// The base layer is known by its diffID: a layer that cannot be read stands for it.
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	top := layer(t, file("v2", "2"))
	next, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		unreadable{diffID: cf.RootFS.DiffIDs[0]}, top)
	if err != nil {
		t.Fatal(err)
	}
	ncf, err := next.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	ncf = ncf.DeepCopy()
	ncf.Config = cf.Config
	next, err = mutate.ConfigFile(next, ncf)
	if err != nil {
		t.Fatal(err)
	}

	got, err := s.Put(context.Background(), next, []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.unpacks.Load() - unpacks; n != 1 {
		t.Errorf("Put unpacked %d layers, want only the new one", n)
	}
	if got.Layers[0] != first.Layers[0] {
		t.Errorf("base layer at %s, want the stored %s", got.Layers[0], first.Layers[0])
	}
	old, err := s.Get(first.ID)
	if err != nil || len(old.RepoTags) != 0 {
		t.Errorf("previous image: tags %v (%v), want the tag moved away", old.RepoTags, err)
	}
}

func TestPutRefusesALayerThatDoesNotMatchItsDiffID(t *testing.T) {
	s := newStore(t)
	img := withLayers(t, busybox(t), layer(t, file("a", "1")))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: "0000000000000000000000000000000000000000000000000000000000000000"}
	forged, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), forged, []string{"forged"}); !errors.Is(err, errDigest) {
		t.Fatalf("Put = %v, want a digest mismatch", err)
	}
	if _, err := s.Get("forged"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get(forged) = %v, want ErrNotFound: nothing kept", err)
	}
}

func TestPutRefusesATagThatIsNotATag(t *testing.T) {
	s := newStore(t)
	_, err := s.Put(context.Background(), busybox(t), []string{"app@sha256:0000000000000000000000000000000000000000000000000000000000000000"})
	if !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("Put = %v, want ErrInvalidArgument", err)
	}
}

// unreadable is a layer known only by its diffID.
type unreadable struct{ diffID v1.Hash }

func (u unreadable) Digest() (v1.Hash, error) { return u.diffID, nil }
func (u unreadable) DiffID() (v1.Hash, error) { return u.diffID, nil }
func (u unreadable) Compressed() (io.ReadCloser, error) {
	return nil, errors.New("unreadable layer read")
}
func (u unreadable) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("unreadable layer read")
}
func (u unreadable) Size() (int64, error)                { return 0, nil }
func (u unreadable) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
