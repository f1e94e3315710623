package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/comp-dev/comp/runtime"
)

// requireRoot stops a test that needs root (lchown, mknod, trusted.* xattrs, mount). CI runs
// as root, so there it fails instead of skipping.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the image store tests need root (lchown, mknod, trusted.* xattrs) and CI runs as root")
	}
	t.Skip("needs root: lchown, mknod and trusted.* xattrs; run `go test` as root")
}

// newStore opens a store in a fresh temporary folder.
func newStore(t testing.TB) *Store {
	t.Helper()
	requireRoot(t)
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func busybox(t testing.TB, opts ...testimage.Option) v1.Image {
	t.Helper()
	img, err := testimage.Busybox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushed starts a registry holding img as repoAndTag and returns the registry.
func pushed(t testing.TB, repoAndTag string, img v1.Image) *testregistry.Registry {
	t.Helper()
	reg := testregistry.Start(t)
	push(t, reg, repoAndTag, img)
	return reg
}

func push(t testing.TB, reg *testregistry.Registry, repoAndTag string, img v1.Image) string {
	t.Helper()
	ref, err := reg.Push(repoAndTag, img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func pull(t testing.TB, s *Store, ref string) Image {
	t.Helper()
	img, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tarEntry is one entry of a layer tar built by a test.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: testimage.Epoch}}
}

func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: testimage.Epoch}, body: body}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: testimage.Epoch}}
}

func tarBytes(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layer builds a gzip-compressed OCI layer of entries.
func layer(t testing.TB, entries ...tarEntry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// withLayers is base with layers on top.
func withLayers(t testing.TB, base v1.Image, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func configName(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func diffIDs(t testing.TB, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

// entries lists the names in a folder of the store ("l", "tmp", "blobs/sha256"), sorted.
func entries(t testing.TB, s *Store, folder string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Root(), folder))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// progressLog records pull progress.
type progressLog struct {
	mu     sync.Mutex
	events []runtime.PullProgress
}

func (p *progressLog) add(e runtime.PullProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

// statuses lists the statuses reported, in order, without repeats in a row.
func (p *progressLog) statuses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if len(out) == 0 || out[len(out)-1] != e.Status {
			out = append(out, e.Status)
		}
	}
	return out
}

// sameTime compares file times at second precision, the precision of a plain tar header.
func sameTime(a, b time.Time) bool { return a.Unix() == b.Unix() }
