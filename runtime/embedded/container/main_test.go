package container

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary be a container's init (libcontainer re-execs it), comp's
// minimal init, the helper process of TestLoad and the seccomp helper, before it runs the tests.
func TestMain(m *testing.M) {
	Init()
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperStart())
	}
	if how := os.Getenv(seccompHelperEnv); how != "" {
		os.Exit(seccompHelper(how))
	}
	os.Exit(m.Run())
}

// skipOrFail skips t with the message, or fails it when CI=true: CI runs as root with
// busybox-static installed, so a missing one there is a broken machine, not a reason to pass.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// requireRoot skips (fails in CI) a test that needs root and /bin/busybox.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		skipOrFail(t, "running containers needs root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		skipOrFail(t, "the test rootfs needs a static /bin/busybox (Debian: busybox-static): %v", err)
	}
}

var applets = sync.OnceValues(func() ([]string, error) {
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	return strings.Fields(string(out)), nil
})

// newRootfs makes a container root: /bin/busybox, a symlink per applet, and /etc/passwd and
// /etc/group with root, nobody and a user "app" (1000) in a supplementary group "staff" (50).
func newRootfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// After pivot_root this folder is "/": non-root users must be able to enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := applets()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name == "busybox" {
			continue
		}
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newManager returns a Manager on a fresh state root.
func newManager(t testing.TB) *Manager {
	t.Helper()
	m, err := NewManager(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var idSanitizer = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// testID returns a container ID unique to this test run.
func testID(t testing.TB) string {
	name := idSanitizer.ReplaceAllString(t.Name(), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("t%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%1e9)
}

// config returns a Config for a new container running args in a fresh rootfs.
func config(t testing.TB, args ...string) Config {
	t.Helper()
	return Config{
		ID:       testID(t),
		Rootfs:   newRootfs(t),
		Hostname: "box",
		Process:  Process{Args: args, Env: []string{"PATH=" + defaultPath}, Cwd: "/"},
	}
}

// start starts cfg and destroys the container when the test ends, whatever happened.
func start(t testing.TB, m *Manager, cfg Config) *Container {
	t.Helper()
	c, err := m.Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return c
}

// run starts cfg with its output captured and returns the output (stdout, then stderr) and
// the exit code.
func run(t testing.TB, m *Manager, cfg Config) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	cfg.Process.Stdout, cfg.Process.Stderr = &out, &errOut
	c := start(t, m, cfg)
	code, err := c.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return out.String(), errOut.String(), code
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The helper process of TestLoad: it starts a container, prints its PID and exits, as a
// supervisor that dies would.
const helperEnv = "COMP_CONTAINER_TEST_HELPER"

func helperStart() int {
	m, err := NewManager(os.Getenv("HELPER_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := m.Start(Config{
		ID:      os.Getenv("HELPER_ID"),
		Rootfs:  os.Getenv("HELPER_ROOTFS"),
		Process: Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=" + defaultPath, "HELPER=yes"}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.Pid())
	return 0
}
