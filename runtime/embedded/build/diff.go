package build

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image spec.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// captureLayer turns the upper folder of the step in dir into a layer: dir/layer.tar, an
// uncompressed tar in which overlay's whiteouts (0/0 character devices, opaque folders) are
// OCI ones. It returns nil when the step changed nothing.
func captureLayer(dir string) (*layer, error) {
	upper := filepath.Join(dir, "upper")
	entries, err := os.ReadDir(upper)
	if err != nil {
		return nil, fmt.Errorf("build: read changes: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	tarPath := filepath.Join(dir, "layer.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return nil, fmt.Errorf("build: write layer: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	if err := writeDiff(bw, upper); err != nil {
		return nil, fmt.Errorf("build: write layer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("build: write layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("build: write layer: %w", err)
	}
	return &layer{diffID: fmt.Sprintf("sha256:%x", h.Sum(nil)), dir: upper, tar: tarPath}, nil
}

// writeDiff writes the tar of an overlay upper folder: entries in a fixed order (sorted
// paths, so the same changes make the same tar), owners, modes, second-precision times,
// extended attributes (overlay's own left out), hard links as links.
func writeDiff(w io.Writer, upper string) error {
	tw := tar.NewWriter(w)
	links := map[uint64]string{} // inode -> first path, for hard links
	buf := make([]byte, 128<<10)
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := os.ReadDir(filepath.Join(upper, rel))
		if err != nil {
			return err
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			name := path.Join(rel, e.Name())
			full := filepath.Join(upper, name)
			fi, err := os.Lstat(full)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
				// overlay's whiteout: the path was deleted.
				hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(rel, whiteoutPrefix+e.Name()),
					Mode: 0o600, ModTime: fi.ModTime().Truncate(time.Second), Format: tar.FormatPAX}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				continue
			}
			hdr, err := tarHeader(full, name, fi, st)
			if err != nil {
				return err
			}
			if hdr.Typeflag == tar.TypeReg && st.Nlink > 1 {
				if first, ok := links[st.Ino]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					links[st.Ino] = name
				}
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			switch {
			case hdr.Typeflag == tar.TypeReg:
				if err := copyFile(tw, full, buf); err != nil {
					return err
				}
			case fi.IsDir():
				if opaque, _ := getXattr(full, "trusted.overlay.opaque"); opaque == "y" {
					wh := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(name, whiteoutOpaque),
						Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX}
					if err := tw.WriteHeader(wh); err != nil {
						return err
					}
				}
				if err := walk(name); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return err
	}
	return tw.Close()
}

// tarHeader describes the file at full, named name in the layer.
func tarHeader(full, name string, fi fs.FileInfo, st *syscall.Stat_t) (*tar.Header, error) {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(full); err != nil {
			return nil, err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	hdr.Uname, hdr.Gname = "", ""
	hdr.ModTime = fi.ModTime().Truncate(time.Second)
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	xattrs, err := listXattrs(full)
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr, nil
}

func copyFile(w io.Writer, full string, buf []byte) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(w, f, buf)
	return err
}

// listXattrs reads the extended attributes of full (not following a symlink), except
// overlay's own.
func listXattrs(full string) (map[string]string, error) {
	size, err := unix.Llistxattr(full, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, &os.PathError{Op: "listxattr", Path: full, Err: err}
	}
	if size == 0 {
		return nil, nil
	}
	names := make([]byte, size)
	if size, err = unix.Llistxattr(full, names); err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: full, Err: err}
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(names[:size]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		v, err := getXattr(full, name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func getXattr(full, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(full, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return "", nil
		}
		if err != nil {
			return "", &os.PathError{Op: "getxattr " + name, Path: full, Err: err}
		}
		return string(buf[:n]), nil
	}
}
