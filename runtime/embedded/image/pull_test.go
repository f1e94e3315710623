package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/comp-dev/comp/runtime"
)

func TestPullStoresUnpacksAndTagsTheImage(t *testing.T) {
	s := newStore(t)
	src := busybox(t, testimage.WithCmd("sh", "-c", "echo hi"), testimage.WithLabels(map[string]string{"a": "b"}))
	reg := pushed(t, "busybox:latest", src)
	var log progressLog

	img, err := s.Pull(context.Background(), reg.Ref("busybox"), log.add)
	if err != nil {
		t.Fatal(err)
	}

	manifest, err := src.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if want := configName(t, src); img.ID != want {
		t.Errorf("ID = %s, want the config digest %s", img.ID, want)
	}
	if want := []string{reg.Ref("busybox:latest")}; !slices.Equal(img.RepoTags, want) {
		t.Errorf("RepoTags = %v, want %v", img.RepoTags, want)
	}
	if want := []string{reg.Ref("busybox@" + manifest.String())}; !slices.Equal(img.RepoDigests, want) {
		t.Errorf("RepoDigests = %v, want %v", img.RepoDigests, want)
	}
	if !slices.Equal(img.Config.Cmd, []string{"sh", "-c", "echo hi"}) || img.Config.Labels["a"] != "b" {
		t.Errorf("Config = %+v, want the image's Cmd and labels", img.Config)
	}
	if !img.Created.Equal(testimage.Epoch) {
		t.Errorf("Created = %v, want %v", img.Created, testimage.Epoch)
	}
	if want := []string{filepath.Join(s.Root(), "l", "1")}; !slices.Equal(img.Layers, want) {
		t.Fatalf("Layers = %v, want %v", img.Layers, want)
	}
	if img.Size < 1<<20 {
		t.Errorf("Size = %d, want at least busybox's size", img.Size)
	}
	if r := img.Runtime(); r.ID != img.ID || r.Labels["a"] != "b" || !slices.Equal(r.RepoTags, img.RepoTags) {
		t.Errorf("Runtime() = %+v", r)
	}

	root := img.Layers[0]
	if fi, err := os.Lstat(filepath.Join(root, "bin/busybox")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v %v, want a 0755 file", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q (%v), want a symlink to busybox", target, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "tmp")); err != nil || !fi.IsDir() || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v %v, want a 1777 folder", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "www/index.html")); err != nil || string(b) != testimage.IndexHTML {
		t.Errorf("www/index.html = %q (%v)", b, err)
	}
	for _, p := range []string{"etc/passwd", "etc", "bin/sh"} {
		if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || !sameTime(fi.ModTime(), testimage.Epoch) {
			t.Errorf("%s: mtime %v (%v), want %v", p, fi.ModTime(), err, testimage.Epoch)
		}
	}

	if got, want := log.statuses(), []string{"Pulling fs layer", "Downloading", "Pull complete"}; !slices.Equal(got, want) {
		t.Errorf("progress statuses = %v, want %v", got, want)
	}
	last := log.events[len(log.events)-2]
	if last.Status != "Downloading" || last.Total == 0 || last.Current != last.Total || last.Ref != reg.Ref("busybox:latest") || len(last.Layer) != 12 {
		t.Errorf("last download progress = %+v, want Current == Total, the ref and a short layer ID", last)
	}
	if got := entries(t, s, "tmp"); len(got) != 0 {
		t.Errorf("tmp/ after the pull holds %v", got)
	}
}

func TestSecondPullOfAnUnchangedImageDoesNoLayerWork(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "app:1", withLayers(t, busybox(t), layer(t, file("app", "v1"))))
	first := pull(t, s, reg.Ref("app:1"))
	dirs, unpacks := entries(t, s, "l"), s.unpacks.Load()

	var log progressLog
	second, err := s.Pull(context.Background(), reg.Ref("app:1"), log.add)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !slices.Equal(second.Layers, first.Layers) {
		t.Errorf("second pull gave %+v, want %+v", second, first)
	}
	if got := entries(t, s, "l"); !slices.Equal(got, dirs) {
		t.Errorf("layer folders %v after the second pull, want %v", got, dirs)
	}
	if got := s.unpacks.Load(); got != unpacks {
		t.Errorf("second pull unpacked %d layers, want none", got-unpacks)
	}
	for _, e := range log.events {
		if e.Status != "Already exists" {
			t.Errorf("second pull reported %+v, want only \"Already exists\"", e)
		}
	}
	if len(log.events) != 2 {
		t.Errorf("second pull reported %d events, want one per layer", len(log.events))
	}
}

func TestPullSharesLayersBetweenImages(t *testing.T) {
	s := newStore(t)
	base := busybox(t)
	reg := pushed(t, "base:1", base)
	push(t, reg, "app:1", withLayers(t, base, layer(t, file("app", "v1"))))
	b := pull(t, s, reg.Ref("base:1"))

	var log progressLog
	a, err := s.Pull(context.Background(), reg.Ref("app:1"), log.add)
	if err != nil {
		t.Fatal(err)
	}
	if a.Layers[0] != b.Layers[0] {
		t.Errorf("app's base layer is %s, want the shared %s", a.Layers[0], b.Layers[0])
	}
	if got := entries(t, s, "l"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("layer folders = %v, want 1 and 2", got)
	}
	if got := log.statuses(); got[0] != "Already exists" {
		t.Errorf("statuses = %v, want the shared layer first as \"Already exists\"", got)
	}
}

func TestPullByDigestPinsTheImage(t *testing.T) {
	s := newStore(t)
	reg := testregistry.Start(t)
	byDigest := push(t, reg, "busybox:latest", busybox(t))
	img := pull(t, s, byDigest)
	if len(img.RepoTags) != 0 || !slices.Equal(img.RepoDigests, []string{byDigest}) {
		t.Errorf("RepoTags %v, RepoDigests %v; want no tag and %s", img.RepoTags, img.RepoDigests, byDigest)
	}
	if got, err := s.Get(byDigest); err != nil || got.ID != img.ID {
		t.Errorf("Get(%s) = %v, %v", byDigest, got.ID, err)
	}
	// A digest reference keeps the image from being pruned as dangling.
	if out, err := s.Prune(nil); err != nil || len(out) != 0 {
		t.Errorf("Prune = %v, %v; want nothing removed", out, err)
	}
}

func TestGetFindsAnImageByTagIDOrPrefix(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "busybox:latest", busybox(t))
	img := pull(t, s, reg.Ref("busybox:latest"))
	hex := strings.TrimPrefix(img.ID, "sha256:")

	for _, tc := range []struct {
		name, ref string
		wantErr   error
	}{
		{"tag", reg.Ref("busybox:latest"), nil},
		{"tag defaulting to latest", reg.Ref("busybox"), nil},
		{"ID", img.ID, nil},
		{"ID prefix", hex[:12], nil},
		{"ID prefix with algorithm", "sha256:" + hex[:8], nil},
		{"repo digest", img.RepoDigests[0], nil},
		{"unknown tag", reg.Ref("busybox:nosuch"), runtime.ErrNotFound},
		{"unknown repository", "nosuch", runtime.ErrNotFound},
		{"unknown ID", "sha256:" + strings.Repeat("0", 64), runtime.ErrNotFound},
		{"prefix of no ID", strings.Repeat("0", 12), runtime.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Get(tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get(%s) error = %v, want %v", tc.ref, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.ID != img.ID {
				t.Fatalf("Get(%s) = %s, %v; want %s", tc.ref, got.ID, err, img.ID)
			}
		})
	}

	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != img.ID {
		t.Errorf("List() = %v, %v; want the one image", list, err)
	}
}

func TestResolveRefusesAnAmbiguousPrefix(t *testing.T) {
	ix := newIndex()
	ix.Images["sha256:ab"+strings.Repeat("0", 62)] = &imageRecord{}
	ix.Images["sha256:ac"+strings.Repeat("0", 62)] = &imageRecord{}
	if _, err := ix.resolve("a"); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("resolve(a) error = %v, want ErrInvalidArgument", err)
	}
	if r, err := ix.resolve("ab"); err != nil || !strings.HasPrefix(r.id, "sha256:ab") {
		t.Errorf("resolve(ab) = %v, %v", r, err)
	}
}

func TestPullErrorsAreClassified(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "busybox:latest", busybox(t))
	for _, tc := range []struct {
		name, ref string
		want      error
		message   string
	}{
		{"unknown repository", reg.Ref("nosuch"), runtime.ErrNotFound, "pull " + reg.Ref("nosuch:latest") + ": manifest unknown"},
		{"unknown tag", reg.Ref("busybox:nosuch"), runtime.ErrNotFound, "pull " + reg.Ref("busybox:nosuch") + ": manifest unknown"},
		{"malformed reference", "Upper/Case", runtime.ErrInvalidArgument, ""},
		{"registry refusing connections", "127.0.0.1:1/busybox", runtime.ErrUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Pull(context.Background(), tc.ref, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Pull(%s) error = %v, want %v", tc.ref, err, tc.want)
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Errorf("message = %q, want %q", err.Error(), tc.message)
			}
		})
	}
}

func TestPullRefusesATamperedBlobAndKeepsNothing(t *testing.T) {
	s := newStore(t)
	// An uncompressed layer stays a valid tar with one byte changed: only its digest tells.
	content := tarBytes(t, file("big", strings.Repeat("a", 64<<10)))
	tampered := static.NewLayer(content, types.OCIUncompressedLayer)
	digest, err := tampered.Digest()
	if err != nil {
		t.Fatal(err)
	}
	var on atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !on.Load() || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+digest.String()) {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		body[len(body)/2] ^= 0xff
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, withLayers(t, busybox(t), tampered)); err != nil {
		t.Fatal(err)
	}
	on.Store(true)

	_, err = s.Pull(context.Background(), ref.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("Pull of a tampered layer: %v, want a digest mismatch", err)
	}
	t.Logf("refused: %v", err)
	if ix, err := s.readIndex(); err != nil || len(ix.Images) != 0 || len(ix.Layers) > 1 {
		t.Errorf("index after a tampered pull: %+v, %v; want no image and at most the good base layer", ix, err)
	}
	if got := entries(t, s, "l"); len(got) > 1 {
		t.Errorf("layer folders %v after a tampered pull, want at most the good base layer", got)
	}
	if got := entries(t, s, "tmp"); len(got) != 0 {
		t.Errorf("tmp/ keeps %v after a tampered pull", got)
	}
	if _, err := s.Get(ref.String()); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get after a tampered pull: %v, want ErrNotFound", err)
	}
}

func TestPullRefusesAPathEscapingTheLayer(t *testing.T) {
	s := newStore(t)
	reg := pushed(t, "evil:1", withLayers(t, busybox(t), layer(t, file("../evil", "x"))))
	_, err := s.Pull(context.Background(), reg.Ref("evil:1"), nil)
	if !errors.Is(err, errEscape) {
		t.Fatalf("Pull error = %v, want a path escaping the layer", err)
	}
	if _, err := os.Lstat(filepath.Join(s.Root(), "tmp", "evil")); err == nil {
		t.Error("the entry was written outside its layer")
	}
	if got := entries(t, s, "tmp"); len(got) != 0 {
		t.Errorf("tmp/ keeps %v", got)
	}
	if _, err := s.Get(reg.Ref("evil:1")); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
}

// helperRootEnv makes TestHelperPull pull in a subprocess.
const helperRootEnv = "COMP_IMAGE_TEST_HELPER_ROOT"

// TestHelperPull is not a test: TestConcurrentPullsKeepTheStoreConsistent runs it in other
// processes to pull into the same store.
func TestHelperPull(t *testing.T) {
	root := os.Getenv(helperRootEnv)
	if root == "" {
		t.Skip("helper process for TestConcurrentPullsKeepTheStoreConsistent")
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(context.Background(), os.Getenv(helperRootEnv+"_REF"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPullsKeepTheStoreConsistent(t *testing.T) {
	s := newStore(t)
	img := withLayers(t, busybox(t), layer(t, file("a", "1")), layer(t, file("b", "2")))
	reg := pushed(t, "app:1", img)
	ref := reg.Ref("app:1")
	other, err := Open(s.Root()) // a second Store: locks as another process would
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 6 {
		st := s
		if i%2 == 1 {
			st = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Pull(context.Background(), ref, nil); err != nil {
				errs <- err
			}
		}()
	}
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPull$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperRootEnv+"="+s.Root(), helperRootEnv+"_REF="+ref)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper process: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, img) || len(got.Layers) != 3 {
		t.Errorf("Get = %+v", got)
	}
	if dirs := entries(t, s, "l"); len(dirs) != 3 {
		t.Errorf("layer folders = %v, want exactly 3", dirs)
	}
	if n := s.unpacks.Load(); n > 3 {
		t.Errorf("one Store unpacked %d layers for 3 layers, want each once", n)
	}
	for _, l := range got.Layers {
		if _, err := os.Stat(l); err != nil {
			t.Error(err)
		}
	}
	if tmp := entries(t, s, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ keeps %v", tmp)
	}
}
