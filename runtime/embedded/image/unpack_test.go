package image

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// unpackInto unpacks layer tar bytes (compressed as named: "", "gzip", "zstd") into a new
// folder under base, with the right digests.
func unpackInto(t *testing.T, base string, plain []byte, compression string) (string, error) {
	t.Helper()
	raw := plain
	switch compression {
	case "gzip":
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(plain)
		zw.Close()
		raw = buf.Bytes()
	case "zstd":
		zw, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		raw = zw.EncodeAll(plain, nil)
	}
	dir, err := os.MkdirTemp(base, "layer-")
	if err != nil {
		t.Fatal(err)
	}
	_, err = unpackStream(context.Background(), bytes.NewReader(raw), digestOf(raw), digestOf(plain), dir, nil)
	return dir, err
}

func TestUnpackConvertsWhiteoutsForOverlayfs(t *testing.T) {
	s := newStore(t)
	top := layer(t,
		dir("www/"),
		file("www/.wh.index.html", ""),
		dir("etc/"),
		file("etc/.wh..wh..opq", ""),
		file("etc/hostname", "box\n"),
	)
	reg := pushed(t, "wh:1", withLayers(t, busybox(t), top))
	img := pull(t, s, reg.Ref("wh:1"))
	if len(img.Layers) != 2 {
		t.Fatalf("Layers = %v, want 2", img.Layers)
	}
	upper := img.Layers[1]

	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "www/index.html"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("www/index.html: mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(upper, "www/.wh.index.html")); err == nil {
		t.Error("the OCI whiteout file was kept")
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(upper, "etc"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("etc: trusted.overlay.opaque = %q (%v), want y", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(upper, "etc/.wh..wh..opq")); err == nil {
		t.Error("the OCI opaque marker was kept")
	}

	// overlayfs itself agrees.
	mnt := t.TempDir()
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+img.Layers[0]); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	for p, want := range map[string]bool{
		"bin/busybox":    true,
		"etc/hostname":   true,
		"etc/passwd":     false, // hidden by the opaque etc/
		"www/index.html": false, // whited out
		"www":            true,
	} {
		if _, err := os.Lstat(filepath.Join(mnt, p)); (err == nil) != want {
			t.Errorf("%s in the overlay: exists=%v, want %v", p, err == nil, want)
		}
	}
}

func TestUnpackKeepsModesOwnersLinksAndTimes(t *testing.T) {
	requireRoot(t)
	t1 := time.Date(2010, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := time.Date(2011, 1, 2, 3, 4, 5, 0, time.UTC)
	plain := tarBytes(t,
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o750, Uid: 1000, Gid: 1001, ModTime: t1}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "d/suid", Mode: 0o4755, Uid: 1000, Gid: 1001, ModTime: t2,
			PAXRecords: map[string]string{"SCHILY.xattr.user.comment": "hi", "SCHILY.xattr.trusted.overlay.opaque": "y"}}, body: "bin"},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "d/abs", Linkname: "/etc/passwd", Uid: 1000, Gid: 1001, ModTime: t2}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "d/hard", Linkname: "d/suid"}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600, ModTime: t1}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "implicit/parent/file", Mode: 0o600, ModTime: t1}, body: "x"},
	)
	dir, err := unpackInto(t, t.TempDir(), plain, "gzip")
	if err != nil {
		t.Fatal(err)
	}

	check := func(p string, mode os.FileMode, uid, gid uint32, mtime time.Time) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != uid || st.Gid != gid || !sameTime(fi.ModTime(), mtime) {
			t.Errorf("%s: %v %d:%d %v, want %v %d:%d %v", p, fi.Mode(), st.Uid, st.Gid, fi.ModTime(), mode, uid, gid, mtime)
		}
	}
	check("d", os.ModeDir|0o750, 1000, 1001, t1)
	check("d/suid", os.ModeSetuid|0o755, 1000, 1001, t2)
	check("d/abs", os.ModeSymlink|0o777, 1000, 1001, t2)
	check("fifo", os.ModeNamedPipe|0o600, 0, 0, t1)
	if fi, err := os.Lstat(filepath.Join(dir, "implicit/parent")); err != nil || fi.Mode() != os.ModeDir|0o755 {
		t.Errorf("implicit/parent: %v %v, want a 0755 folder made for its file", fi, err)
	}

	if target, _ := os.Readlink(filepath.Join(dir, "d/abs")); target != "/etc/passwd" {
		t.Errorf("d/abs -> %q, want the absolute target kept", target)
	}
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(dir, "d/suid"), &a)
	unix.Lstat(filepath.Join(dir, "d/hard"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("d/hard: inode %d (nlink %d), want a hardlink of d/suid (%d)", b.Ino, a.Nlink, a.Ino)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "d/suid"), "user.comment", buf); err != nil || string(buf[:n]) != "hi" {
		t.Errorf("user.comment = %q (%v), want hi", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "d/suid"), "trusted.overlay.opaque", buf); err == nil {
		t.Error("a layer set an overlayfs xattr through a PAX record")
	}
}

func TestUnpackReplacesEarlierEntriesWithoutFollowingThem(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := tarBytes(t,
		symlink("x", outside),
		file("x", "replaced"),
		file("d", "a file first"),
		dir("d/"),
		file("d/f", "then a folder"),
	)
	dir, err := unpackInto(t, base, plain, "")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Errorf("the file outside the layer now holds %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "x")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("x: %v %v, want the symlink replaced by a file", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "d/f")); err != nil || string(b) != "then a folder" {
		t.Errorf("d/f = %q (%v)", b, err)
	}
}

func TestUnpackRefusesPathsLeavingTheLayer(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name    string
		entries func(outside string) []tarEntry
	}{
		{"parent reference", func(string) []tarEntry { return []tarEntry{file("../evil", "x")} }},
		{"parent reference inside the path", func(string) []tarEntry { return []tarEntry{file("a/../../evil", "x")} }},
		{"hardlink to a file outside", func(outside string) []tarEntry {
			return []tarEntry{{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "evil", Linkname: "../outside"}}}
		}},
		{"file written through an absolute symlink", func(outside string) []tarEntry {
			return []tarEntry{symlink("link", filepath.Dir(outside)), file("link/evil", "x")}
		}},
		{"file written through a relative symlink", func(string) []tarEntry {
			return []tarEntry{symlink("link", ".."), file("link/evil", "x")}
		}},
		{"whiteout through a symlink", func(outside string) []tarEntry {
			return []tarEntry{symlink("link", filepath.Dir(outside)), file("link/.wh.outside", "")}
		}},
		{"opaque marker through a symlink", func(outside string) []tarEntry {
			return []tarEntry{symlink("link", filepath.Dir(outside)), file("link/.wh..wh..opq", "")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := unpackInto(t, base, tarBytes(t, tc.entries(outside)...), "")
			if !errors.Is(err, errEscape) {
				t.Errorf("unpack error = %v, want a path escaping the layer", err)
			}
			if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
				t.Error("an entry was written outside the layer")
			}
			if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
				t.Errorf("the file outside the layer: %q, %v", b, err)
			}
			buf := make([]byte, 4)
			if _, err := unix.Lgetxattr(base, "trusted.overlay.opaque", buf); err == nil {
				t.Error("an xattr was set outside the layer")
			}
		})
	}
}

func TestUnpackVerifiesDigestsOfEveryCompression(t *testing.T) {
	requireRoot(t)
	plain := tarBytes(t, file("hello", "world"))
	for _, c := range []string{"", "gzip", "zstd"} {
		t.Run("unpacks "+cmp.Or(c, "plain tar"), func(t *testing.T) {
			dir, err := unpackInto(t, t.TempDir(), plain, c)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "hello")); err != nil || string(b) != "world" {
				t.Errorf("hello = %q (%v)", b, err)
			}
		})
	}
	other := digestOf([]byte("other"))
	for _, tc := range []struct {
		name           string
		digest, diffID string
	}{
		{"wrong digest", other, digestOf(plain)},
		{"wrong diffID", digestOf(plain), other},
		{"wrong diffID with no digest to check", "", other},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := unpackStream(context.Background(), bytes.NewReader(plain), tc.digest, tc.diffID, t.TempDir(), nil)
			if !errors.Is(err, errDigest) {
				t.Errorf("error = %v, want a digest mismatch", err)
			}
		})
	}
}
