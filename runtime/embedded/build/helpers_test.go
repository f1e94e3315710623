package build

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/image"
)

// TestMain lets the test binary be a RUN container's init: libcontainer re-execs it.
func TestMain(m *testing.M) {
	container.Init()
	os.Exit(m.Run())
}

// requireRoot stops a test that runs containers: it needs root and a static busybox. CI has
// both, so there it fails instead of skipping.
func requireRoot(t testing.TB) {
	t.Helper()
	problem := ""
	if os.Geteuid() != 0 {
		problem = "building runs containers and mounts overlays, which needs root"
	} else if _, err := testimage.FindBusybox(); err != nil {
		problem = err.Error()
	}
	if problem == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(problem)
	}
	t.Skip(problem)
}

// fixture is a Builder on a fresh store holding busybox:latest (testimage's), with the folders
// it uses.
type fixture struct {
	*Builder
	root  string // everything the fixture made is under it
	state string // the container manager's state root
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	root := t.TempDir()
	images, err := image.Open(filepath.Join(root, "images"))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, "state")
	mgr, err := container.NewManager(state)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := images.Put(context.Background(), busybox, []string{"busybox:latest"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{Builder: &Builder{Images: images, Containers: mgr, Dir: filepath.Join(root, "b"),
		CacheDir: filepath.Join(root, "cache")}, root: root, state: state}
	t.Cleanup(func() { f.checkClean(t) })
	return f
}

// checkClean fails t when a build left a mount, a container or a scratch folder.
func (f *fixture) checkClean(t *testing.T) {
	t.Helper()
	for _, m := range mountsUnder(t, f.root) {
		if !strings.Contains(m, "/inspect-") { // the test's own, until it ends
			t.Errorf("mount left behind: %s", m)
		}
	}
	if entries, _ := os.ReadDir(f.Dir); len(visible(entries)) > 0 {
		t.Errorf("scratch folders left in %s: %v", f.Dir, visible(entries))
	}
	if entries, _ := os.ReadDir(f.state); len(visible(entries)) > 0 {
		t.Errorf("containers left in %s: %v", f.state, visible(entries))
	}
}

// visible lists the names that do not start with a dot (the manager's lock files do).
func visible(entries []os.DirEntry) []string {
	var out []string
	for _, n := range names(entries) {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func names(entries []os.DirEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// buildContext writes files (path -> content; a path ending in "/" is a folder) into a fresh
// context folder.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// progressLog records a build's progress.
type progressLog struct {
	mu     sync.Mutex
	events []runtime.BuildProgress
}

func (p *progressLog) add(e runtime.BuildProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

// text is the log as lines "STEP | TEXT".
func (p *progressLog) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, e := range p.events {
		b.WriteString(e.Step)
		if e.Text != "" {
			b.WriteString(" | " + e.Text)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// steps lists the distinct step labels reported, in order.
func (p *progressLog) steps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if len(out) == 0 || out[len(out)-1] != e.Step {
			out = append(out, e.Step)
		}
	}
	return out
}

// cached lists the steps reported CACHED.
func (p *progressLog) cached() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if e.Text == "CACHED" {
			out = append(out, e.Step)
		}
	}
	return out
}

// build builds spec and fails the test on an error.
func (f *fixture) build(t *testing.T, spec runtime.BuildSpec) (string, *progressLog) {
	t.Helper()
	log := &progressLog{}
	id, err := f.Build(context.Background(), spec, log.add)
	if err != nil {
		t.Fatalf("Build: %v\nprogress:\n%s", err, log.text())
	}
	return id, log
}

// rootfs mounts the image id (read-only use) and returns its root; unmounted when the test
// ends.
func (f *fixture) rootfs(t *testing.T, id string) string {
	t.Helper()
	img, err := f.Images.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(f.root, "inspect-")
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountOverlay(img.Layers, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmountOverlay(dir); err != nil {
			t.Error(err)
		}
	})
	return root
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr(s string) *string { return &s }
