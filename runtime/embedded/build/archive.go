package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// extract unpacks the tar archive at host (plain, gzip, bzip2 or zstd) into the folder dest,
// as ADD does with a local archive. It reports false, having written nothing, when host is not
// an archive. Entries keep their owners, unless --chown chose one.
func (c *copier) extract(host, dest string) (bool, error) {
	f, err := os.Open(host)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(6)
	var plain io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		plain = zr
	case bytes.HasPrefix(magic, []byte("BZh")):
		plain = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		plain = zr
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return false, errors.New("xz archives are not supported by the embedded builder: use gzip, bzip2 or zstd")
	}
	pr := bufio.NewReaderSize(plain, 64<<10)
	head, _ := pr.Peek(512)
	if len(head) < 512 || !bytes.HasPrefix(head[257:], []byte("ustar")) {
		return false, nil // not a tar: ADD copies it as it is
	}
	if err := c.mkdirAll(dest); err != nil {
		return true, err
	}
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return true, err
		}
		if err := c.extractEntry(hdr, tr, dest); err != nil {
			return true, fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	return true, c.finish()
}

// extractEntry writes one archive entry under dest.
func (c *copier) extractEntry(hdr *tar.Header, r io.Reader, dest string) error {
	rel := path.Clean("/" + hdr.Name) // never above dest
	p := path.Join(dest, rel)
	o := owner{uid: hdr.Uid, gid: hdr.Gid}
	if c.chowned {
		o = c.owner
	}
	mode := hdr.FileInfo().Mode()
	perm := mode & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	if rel != "/" {
		if err := c.mkdirAll(path.Dir(p)); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := c.mkdirAll(p); err != nil {
			return err
		}
		dst, err := c.resolve(p)
		if err != nil {
			return err
		}
		if err := os.Lchown(dst, o.uid, o.gid); err != nil {
			return err
		}
		if err := unix.Chmod(dst, unixMode(perm)); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
		c.dirTimes = append(c.dirTimes, dirTime{host: dst, mtime: hdr.ModTime})
	case tar.TypeReg, tar.TypeGNUSparse:
		return c.create(p, r, perm, o, hdr.ModTime)
	case tar.TypeSymlink:
		return c.symlink(p, hdr.Linkname, o, hdr.ModTime)
	case tar.TypeLink:
		target, err := c.resolve(path.Join(dest, path.Clean("/"+hdr.Linkname)))
		if err != nil {
			return err
		}
		dst, err := c.replaceable(p)
		if err != nil {
			return err
		}
		return os.Link(target, dst)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		dst, err := c.replaceable(p)
		if err != nil {
			return err
		}
		kind := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			kind = unix.S_IFCHR
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknod(dst, kind|unixMode(perm), dev); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
		if err := os.Lchown(dst, o.uid, o.gid); err != nil {
			return err
		}
		return setTimes(dst, hdr.ModTime)
	}
	// Other kinds (GNU volume labels, PAX global headers) carry no file.
	return nil
}
