package container

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"golang.org/x/sys/unix"
)

func TestMountRootfsLayersWithAWhiteout(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	l0, l1 := filepath.Join(base, "0"), filepath.Join(base, "1")
	writeFiles(t, l0, map[string]string{"a": "a from 0", "b": "b from 0", "d/x": "x from 0"})
	writeFiles(t, l1, map[string]string{"b": "b from 1", "c": "c from 1"})
	// An overlay whiteout: a 0/0 character device hides "a" of the layers below.
	if err := unix.Mknod(filepath.Join(l1, "a"), unix.S_IFCHR|0o600, 0); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(base, "c")
	merged, err := MountRootfs([]string{l0, l1}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := UnmountRootfs(dir); err != nil {
			t.Errorf("UnmountRootfs: %v", err)
		}
	})
	if merged != filepath.Join(dir, "merged") {
		t.Fatalf("merged = %s", merged)
	}
	got := readTree(t, merged)
	want := map[string]string{"b": "b from 1", "c": "c from 1", "d/x": "x from 0"}
	if strings.Join(keys(got), ",") != strings.Join(keys(want), ",") {
		t.Fatalf("merged holds %v, want %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	// Writes land in upper; the layers are untouched.
	if err := os.WriteFile(filepath.Join(merged, "d/x"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(l0, "d/x")); string(b) != "x from 0" {
		t.Fatalf("layer changed: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "upper/d/x")); string(b) != "changed" {
		t.Fatalf("upper holds %q", b)
	}

	// Mounting again does nothing; unmounting twice is fine; a remount keeps upper.
	if _, err := MountRootfs([]string{l0, l1}, dir); err != nil {
		t.Fatalf("second MountRootfs: %v", err)
	}
	if err := UnmountRootfs(dir); err != nil {
		t.Fatal(err)
	}
	if err := UnmountRootfs(dir); err != nil {
		t.Fatalf("second UnmountRootfs: %v", err)
	}
	if mounted, _ := isMountPoint(merged); mounted {
		t.Fatal("still mounted")
	}
	if _, err := MountRootfs([]string{l0, l1}, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(merged, "d/x")); string(b) != "changed" {
		t.Fatalf("after a remount d/x = %q, want the container's change", b)
	}
}

func TestMountRootfsRefusesOptionsLongerThanAPage(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	var layers []string
	for i := range 40 {
		l := filepath.Join(base, strings.Repeat("x", 100)+itoa(i))
		if err := os.Mkdir(l, 0o755); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	dir := filepath.Join(base, "c")
	_, err := MountRootfs(layers, dir)
	if !errors.Is(err, runtime.ErrInvalidArgument) {
		_ = UnmountRootfs(dir)
		t.Fatalf("MountRootfs: %v, want ErrInvalidArgument", err)
	}
}

func TestStartInAMountedRootfs(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	dir := filepath.Join(t.TempDir(), "c")
	merged, err := MountRootfs([]string{newRootfs(t)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := UnmountRootfs(dir); err != nil {
			t.Errorf("UnmountRootfs: %v", err)
		}
	})
	cfg := config(t, "sh", "-c", "echo hi > /hello; cat /hello")
	cfg.Rootfs = merged
	out, errOut, code := run(t, m, cfg)
	if out != "hi\n" || code != 0 {
		t.Fatalf("got %q (stderr %q), exit %d", out, errOut, code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "upper/hello")); string(b) != "hi\n" {
		t.Fatalf("upper/hello = %q", b)
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns the regular files under root by relative path, with their content.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}
