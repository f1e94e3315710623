package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image spec.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	onRead func(total int64)
}

func newHashingReader(r io.Reader, onRead func(int64)) *hashingReader {
	return &hashingReader{r: r, h: sha256.New(), onRead: onRead}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
		if h.onRead != nil {
			h.onRead(h.n)
		}
	}
	return n, err
}

func (h *hashingReader) digest() string { return fmt.Sprintf("sha256:%x", h.h.Sum(nil)) }

// errDigest marks content that does not match its digest.
var errDigest = errors.New("digest mismatch")

// unpackStream unpacks the layer in raw (a tar, gzip or zstd compressed) into dir, which must
// exist and be empty. It verifies that raw hashes to digest (unless digest is "") and that the
// uncompressed tar hashes to diffID; a mismatch is an error wrapping errDigest. It returns the
// bytes of file content unpacked.
func unpackStream(ctx context.Context, raw io.Reader, digest, diffID, dir string, onRead func(int64)) (int64, error) {
	for _, d := range []string{digest, diffID} {
		if d != "" && !strings.HasPrefix(d, "sha256:") {
			return 0, fmt.Errorf("unsupported digest algorithm in %s", d)
		}
	}
	compressed := newHashingReader(raw, onRead)
	br := bufio.NewReaderSize(compressed, 64<<10)
	magic, _ := br.Peek(4)
	var plain io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("decompress layer: %w", err)
		}
		defer zr.Close()
		plain = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, fmt.Errorf("decompress layer: %w", err)
		}
		defer zr.Close()
		plain = zr
	}
	uncompressed := newHashingReader(plain, nil)

	u := newUnpacker(dir)
	size, err := u.unpack(ctx, uncompressed)
	if err != nil {
		return 0, err
	}
	// Read both streams to their ends: a tar's padding, a gzip trailer (its CRC is checked
	// there) and whatever follows are all part of what the digests cover.
	if _, err := io.Copy(io.Discard, uncompressed); err != nil {
		return 0, fmt.Errorf("read layer: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return 0, fmt.Errorf("read layer: %w", err)
	}
	if got := compressed.digest(); digest != "" && got != digest {
		return 0, fmt.Errorf("%w: content has digest %s, want %s", errDigest, got, digest)
	}
	if got := uncompressed.digest(); got != diffID {
		return 0, fmt.Errorf("%w: uncompressed content has digest %s, want diffID %s", errDigest, got, diffID)
	}
	return size, nil
}

// unpacker writes the entries of one layer tar under root. It never follows a symlink it finds
// in the layer, and refuses entries whose path leaves root.
type unpacker struct {
	root string
	// realDirs are paths (relative, cleaned) known to be directories, not symlinks.
	realDirs map[string]bool
	// dirTimes are set last: writing into a folder changes its mtime.
	dirTimes []dirTime
	buf      []byte
}

type dirTime struct {
	path         string
	atime, mtime time.Time
}

func newUnpacker(root string) *unpacker {
	return &unpacker{root: root, realDirs: map[string]bool{".": true}}
}

func (u *unpacker) unpack(ctx context.Context, r io.Reader) (int64, error) {
	if err := os.Chmod(u.root, 0o755); err != nil {
		return 0, err
	}
	tr := tar.NewReader(r)
	var size int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read layer tar: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := u.entry(hdr, tr); err != nil {
			return 0, fmt.Errorf("unpack %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
			size += hdr.Size
		}
	}
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		d := u.dirTimes[i]
		if err := setTimes(d.path, d.atime, d.mtime); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// errEscape marks an entry whose path or link would leave the layer.
var errEscape = errors.New("path escapes the layer")

// cleanPath turns a tar entry name into a path relative to the layer root ("." for the root),
// refusing one that climbs out of it.
func cleanPath(name string) (string, error) {
	p := path.Clean(filepath.ToSlash(name))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errEscape
	}
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	return p, nil
}

func (u *unpacker) full(rel string) string { return filepath.Join(u.root, rel) }

// ensureDir makes sure rel is a real directory, creating it (and its parents) as 0755 when
// missing. A symlink or a file in the way is an error: writing through it could leave root.
func (u *unpacker) ensureDir(rel string) error {
	if u.realDirs[rel] {
		return nil
	}
	if parent := path.Dir(rel); parent != rel {
		if err := u.ensureDir(parent); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(u.full(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(u.full(rel), 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symlink in the layer", errEscape, rel)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", rel)
	}
	u.realDirs[rel] = true
	return nil
}

// remove deletes whatever is at rel (never following a symlink) and forgets it.
func (u *unpacker) remove(rel string) error {
	if err := os.RemoveAll(u.full(rel)); err != nil {
		return err
	}
	for d := range u.realDirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(u.realDirs, d)
		}
	}
	return nil
}

// create runs mk, and when something is in the way removes it and runs mk again.
func (u *unpacker) create(rel string, mk func() error) error {
	err := mk()
	if errors.Is(err, fs.ErrExist) {
		if err := u.remove(rel); err != nil {
			return err
		}
		err = mk()
	}
	return err
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanPath(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("layer root is not a directory")
		}
		return u.dir(rel, hdr)
	}
	parent, base := path.Dir(rel), path.Base(rel)
	if err := u.ensureDir(parent); err != nil {
		return err
	}

	if base == whiteoutOpaque {
		return setXattr(u.full(parent), "trusted.overlay.opaque", "y")
	}
	if target, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if target == "" || target == "." || target == ".." {
			return fmt.Errorf("bad whiteout name %q", base)
		}
		wrel := path.Join(parent, target)
		full := u.full(wrel)
		if err := u.create(wrel, func() error { return mknod(full, unix.S_IFCHR, 0) }); err != nil {
			return err
		}
		return setTimes(full, accessTime(hdr), hdr.ModTime)
	}

	full := u.full(rel)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.dir(rel, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		var f *os.File
		err := u.create(rel, func() (err error) {
			f, err = os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			return err
		})
		if err != nil {
			return err
		}
		if u.buf == nil {
			u.buf = make([]byte, 128<<10)
		}
		if err := FillOwned(f, r, u.buf, hdr.Uid, hdr.Gid, uint32(hdr.Mode&0o7777)); err != nil {
			return err
		}
	case tar.TypeSymlink:
		// The target is stored as it is, absolute or not: it is never followed here.
		if err := u.create(rel, func() error { return os.Symlink(hdr.Linkname, full) }); err != nil {
			return err
		}
		if err := os.Lchown(full, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanPath(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, err)
		}
		if target == "." {
			return fmt.Errorf("hardlink to the layer root")
		}
		if err := u.ensureDir(path.Dir(target)); err != nil {
			return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, err)
		}
		fi, err := os.Lstat(u.full(target))
		if err != nil {
			return fmt.Errorf("hardlink to %s: target not in this layer: %w", hdr.Linkname, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("hardlink to directory %s", hdr.Linkname)
		}
		if target == rel {
			return nil
		}
		// link(2) does not follow a symlink it is given, so this links the entry itself.
		if err := u.create(rel, func() error { return os.Link(u.full(target), full) }); err != nil {
			return err
		}
		return u.xattrs(full, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := u.create(rel, func() error { return mknod(full, mode, dev) }); err != nil {
			return err
		}
		if err := os.Lchown(full, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if err := unix.Chmod(full, uint32(hdr.Mode&0o7777)); err != nil {
			return &os.PathError{Op: "chmod", Path: full, Err: err}
		}
	default:
		// Like Docker: entries of other kinds (GNU volume labels, …) are skipped.
		return nil
	}
	if err := u.xattrs(full, hdr); err != nil {
		return err
	}
	return setTimes(full, accessTime(hdr), hdr.ModTime)
}

// dir creates (or keeps) the directory rel and applies hdr's owner and mode now, its times at
// the end.
func (u *unpacker) dir(rel string, hdr *tar.Header) error {
	full := u.full(rel)
	if rel != "." {
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(full, 0o700); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			if err := u.remove(rel); err != nil {
				return err
			}
			if err := os.Mkdir(full, 0o700); err != nil {
				return err
			}
		}
		u.realDirs[rel] = true
	}
	if err := os.Lchown(full, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if err := unix.Chmod(full, uint32(hdr.Mode&0o7777)); err != nil {
		return &os.PathError{Op: "chmod", Path: full, Err: err}
	}
	if err := u.xattrs(full, hdr); err != nil {
		return err
	}
	u.dirTimes = append(u.dirTimes, dirTime{path: full, atime: accessTime(hdr), mtime: hdr.ModTime})
	return nil
}

// xattrs applies the entry's extended attributes, except overlayfs's own: a layer must not
// forge whiteouts or redirects other than through the OCI names.
func (u *unpacker) xattrs(full string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		if err := setXattr(full, name, v); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				continue
			}
			return err
		}
	}
	return nil
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

func setTimes(full string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, full, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: full, Err: err}
	}
	return nil
}

// timespec converts t, taking the zero time (a header without one) as the Unix epoch.
func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func setXattr(full, name, value string) error {
	if err := unix.Lsetxattr(full, name, []byte(value), 0); err != nil {
		return &os.PathError{Op: "setxattr " + name, Path: full, Err: err}
	}
	return nil
}

func mknod(full string, mode uint32, dev int) error {
	if err := unix.Mknod(full, mode, dev); err != nil {
		return &os.PathError{Op: "mknod", Path: full, Err: err}
	}
	return nil
}
