package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/comp-dev/comp/runtime"
)

// The tests run against the Docker Engine named by the environment. Without one they skip,
// except in CI (CI=true), where they fail.

// testTimeout bounds every test that talks to the engine.
const testTimeout = 2 * time.Minute

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
	// imageRuntime built the test image; TestMain removes the image with it.
	imageRuntime *Runtime
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imageRuntime != nil && imageRef != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = imageRuntime.RemoveImage(ctx, imageRef, true)
		cancel()
	}
	if imageRuntime != nil {
		_ = imageRuntime.Close()
	}
	os.Exit(code)
}

// newTestRuntime connects to the engine, or skips (fails in CI) when there is none.
func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := New(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker Engine needed in CI: %v", err)
		}
		t.Skipf("skipping: no Docker Engine (%v); start dockerd or set DOCKER_HOST", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testImage builds, once per run, a busybox image from the host's /bin/busybox: every applet
// linked in /bin, CMD ["sh"], PATH=/bin and a /www/index.html for httpd.
func testImage(t *testing.T, r *Runtime) string {
	t.Helper()
	imageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if imageRuntime, imageErr = New(ctx); imageErr == nil {
			imageRef, imageErr = buildBusyboxImage("comptest/busybox:" + randomSuffix(t))
		}
	})
	if imageErr != nil {
		t.Fatalf("build test image: %v", imageErr)
	}
	return imageRef
}

func buildBusyboxImage(ref string) (string, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("need a static /bin/busybox (Debian busybox-static): %w", err)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return "", fmt.Errorf("list busybox applets: %w", err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"etc/", 0o755}, {"tmp/", 0o1777}, {"www/", 0o755}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir.name, Mode: dir.mode}); err != nil {
			return "", err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, bin},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"www/index.html", 0o644, []byte("hello from comp\n")},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777}); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := imageRuntime.cli.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{`CMD ["sh"]`, "ENV PATH=/bin"}})
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", ref, err)
	}
	defer rc.Close()
	if err := decodePull(rc, ref, nil); err != nil {
		return "", fmt.Errorf("import image %s: %w", ref, err)
	}
	return ref, nil
}

// fixture creates objects for one test under its own project label, and removes them at the
// test's end.
type fixture struct {
	t       *testing.T
	r       *Runtime
	ctx     context.Context
	project string
	image   string
}

func newFixture(t *testing.T) *fixture {
	t.Parallel()
	r := newTestRuntime(t)
	return &fixture{t: t, r: r, ctx: testContext(t), project: "comptest-" + randomSuffix(t), image: testImage(t, r)}
}

func (f *fixture) labels() map[string]string {
	return map[string]string{runtime.LabelProject: f.project}
}

func (f *fixture) name(what string) string {
	return f.project + "-" + what
}

// container creates a container from the test image (spec.Image and Labels filled in) and
// removes it at the end of the test.
func (f *fixture) container(spec runtime.ContainerSpec) string {
	f.t.Helper()
	if spec.Image == "" {
		spec.Image = f.image
	}
	if spec.Labels == nil {
		spec.Labels = f.labels()
	}
	id, err := f.r.CreateContainer(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("CreateContainer(%s): %v", spec.Name, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.r.RemoveContainer(ctx, id, runtime.RemoveOptions{Force: true, Volumes: true}); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("clean up container %s: %v", spec.Name, err)
		}
	})
	return id
}

// run creates and starts a container.
func (f *fixture) run(spec runtime.ContainerSpec) string {
	f.t.Helper()
	id := f.container(spec)
	if err := f.r.StartContainer(f.ctx, id); err != nil {
		f.t.Fatalf("StartContainer(%s): %v", spec.Name, err)
	}
	return id
}

func (f *fixture) network(spec runtime.NetworkSpec) runtime.Network {
	f.t.Helper()
	if spec.Labels == nil {
		spec.Labels = f.labels()
	}
	n, err := f.r.CreateNetwork(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("CreateNetwork(%s): %v", spec.Name, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.r.RemoveNetwork(ctx, n.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("clean up network %s: %v", spec.Name, err)
		}
	})
	return n
}

func (f *fixture) volume(spec runtime.VolumeSpec) runtime.Volume {
	f.t.Helper()
	if spec.Labels == nil {
		spec.Labels = f.labels()
	}
	v, err := f.r.CreateVolume(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("CreateVolume(%s): %v", spec.Name, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.r.RemoveVolume(ctx, v.Name, true); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("clean up volume %s: %v", spec.Name, err)
		}
	})
	return v
}

func (f *fixture) wait(id string) int {
	f.t.Helper()
	code, err := f.r.WaitContainer(f.ctx, id)
	if err != nil {
		f.t.Fatalf("WaitContainer: %v", err)
	}
	return code
}

func (f *fixture) logs(id string, opts runtime.LogOptions) []runtime.LogLine {
	f.t.Helper()
	var lines []runtime.LogLine
	if err := f.r.Logs(f.ctx, id, opts, func(l runtime.LogLine) { lines = append(lines, l) }); err != nil {
		f.t.Fatalf("Logs: %v", err)
	}
	return lines
}

// eventually polls cond until it holds or the test's deadline passes.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	for delay := 10 * time.Millisecond; !cond(); delay = min(2*delay, 500*time.Millisecond) {
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("timed out waiting until %s", what)
		case <-time.After(delay):
		}
	}
}

func sh(script string) []string { return []string{"sh", "-c", script} }
