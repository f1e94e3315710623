package core

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/state"
	"golang.org/x/sys/unix"
)

func TestInstallWritesOnceUnderTheDigest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	bin := []byte("\x7fELF a core")
	path, err := install(dir, bytes.NewReader(bin), "")
	if err != nil {
		t.Fatal(err)
	}
	// sha256("\x7fELF a core") starts with the 16 hex digits of the name.
	if filepath.Dir(path) != dir || len(filepath.Base(path)) != len(filePrefix)+16 {
		t.Fatalf("installed at %s, want %s/%s<16 hex>", path, dir, filePrefix)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("installed %q, %v; want %q", got, err, bin)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode().Perm())
	}
	// A second install finds it and writes nothing: a marker written into it survives.
	if err := os.WriteFile(path, []byte("\x7fELF b core"), 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := install(dir, bytes.NewReader(bin), "")
	if err != nil || again != path {
		t.Fatalf("second install: %s, %v; want %s", again, err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "\x7fELF b core" {
		t.Errorf("second install rewrote the core")
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in %s, want 1", len(entries), dir)
	}
}

func TestInstallRemovesUnusedCoresOfOtherBuilds(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, filePrefix+"0123456789abcdef")
	other := filepath.Join(dir, "unrelated")
	for _, p := range []string{old, other} {
		if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path, err := install(dir, strings.NewReader("new core"), "fedcba9876543210fedcba9876543210")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != filePrefix+"fedcba9876543210" {
		t.Errorf("installed as %s", filepath.Base(path))
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the unused core of another build is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a core was removed: %v", err)
	}
}

func TestInstallKeepsACoreThatRuns(t *testing.T) {
	dir := t.TempDir()
	// /bin/sleep, copied under a core's name, stands in for a supervisor an older comp started.
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(dir, filePrefix+"1111111111111111")
	if err := os.WriteFile(busy, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(busy, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Its /proc/PID/exe shows the file once the exec is done.
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(slices.Collect(maps.Values(state.Executables())), busy) {
		if time.Now().After(deadline) {
			t.Fatalf("state.Executables never listed %s", busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
	removeUnused(dir, "")
	if _, err := os.Stat(busy); err != nil {
		t.Fatalf("a core that runs was removed: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	removeUnused(dir, "")
	if _, err := os.Stat(busy); !os.IsNotExist(err) {
		t.Errorf("the core was kept after its process ended (%v)", err)
	}
}

func TestExecutableWithoutTheBuildTool(t *testing.T) {
	// `go test` builds without internal/buildcomp's overlay: no core is embedded, and a
	// supervisor runs comp itself.
	if Embedded() {
		t.Fatal("Embedded() is true without internal/buildcomp's overlay")
	}
	self, _ := os.Executable()
	got, err := Executable(t.TempDir())
	if err != nil || got != self {
		t.Errorf("Executable() = %s, %v; want this binary %s", got, err, self)
	}
}

// An up starts many containers at once, and each may install the core and start the
// supervisor from it: every one of those execs must succeed ("text file busy" must not happen:
// a child forked while the core was open for writing would hold it until its own exec).
func TestConcurrentInstallAndExec(t *testing.T) {
	trueBin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		dir := filepath.Join(t.TempDir(), "bin")
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				path, err := install(dir, bytes.NewReader(trueBin), "")
				if err == nil {
					err = exec.Command(path).Run()
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// A state folder on a noexec file system (COMP_ROOT under a noexec /tmp) could hold the core
// but not run it: Executable then answers comp itself.
func TestMountedNoexec(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a file system needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOEXEC, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if !mountedNoexec(filepath.Join(dir, "not", "made", "yet")) {
		t.Error("a folder to be made under a noexec mount: mountedNoexec = false")
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT, "size=1m"); err != nil {
		t.Fatal(err)
	}
	if mountedNoexec(filepath.Join(dir, "bin")) {
		t.Error("after remounting with exec: mountedNoexec = true")
	}
}
