package build

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/image"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// copier writes files into a rootfs, naming them by their path inside it: symlinks of the
// rootfs are resolved within it, never on the host, and the last element of a path is never
// followed.
type copier struct {
	root string
	// owner owns what is written; chowned says --chown chose it (an archive's own owners are
	// kept otherwise).
	owner   owner
	chowned bool
	// mode, when set, replaces the permissions of what is copied (--chmod).
	mode *fs.FileMode

	dirTimes []dirTime // set last: writing into a folder changes its times
	buf      []byte
	dirs     map[string]bool // paths known to be folders
}

type dirTime struct {
	host  string
	mtime time.Time
}

// resolve is the host path of p (a path in the rootfs), its parent's symlinks resolved within
// the rootfs and its last element as it is.
func (c *copier) resolve(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return c.root, nil
	}
	parent, err := securejoin.SecureJoin(c.root, path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(p)), nil
}

// isDir reports whether p is a folder of the rootfs (following symlinks within it).
func (c *copier) isDir(p string) (bool, error) {
	host, err := securejoin.SecureJoin(c.root, p)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// mkdirAll makes sure p is a folder, creating it and its missing parents (mode 0755, owned by
// c.owner). Symlinks on the way are followed within the rootfs.
func (c *copier) mkdirAll(p string) error {
	p = path.Clean("/" + p)
	if c.dirs[p] {
		return nil
	}
	if c.dirs == nil {
		c.dirs = map[string]bool{}
	}
	cur := "/"
	for _, elem := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if elem == "" {
			continue
		}
		cur = path.Join(cur, elem)
		if c.dirs[cur] {
			continue
		}
		c.dirs[cur] = true
		host, err := securejoin.SecureJoin(c.root, cur)
		if err != nil {
			return err
		}
		fi, err := os.Stat(host)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("%s is not a directory", cur)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := os.Mkdir(host, 0o755); err != nil {
			return err
		}
		if err := os.Lchown(host, c.owner.uid, c.owner.gid); err != nil {
			return err
		}
		if err := os.Chmod(host, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies src to p: a file or symlink as p, a folder's content into p (which exists).
func (c *copier) copyTree(src source, p string) error {
	return src.walk(func(rel, host string, fi fs.FileInfo) error {
		if rel == "." && fi.IsDir() {
			return nil // the destination folder is dest itself, and keeps its own metadata
		}
		target := p
		if rel != "." {
			target = path.Join(p, rel)
		}
		return c.copyEntry(host, fi, target)
	})
}

// copyEntry copies one file, folder or symlink at host to p, with c's owner and mode.
func (c *copier) copyEntry(host string, fi fs.FileInfo, p string) error {
	perm := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if c.mode != nil {
		perm = *c.mode
	}
	switch {
	case fi.IsDir():
		if err := c.mkdirAll(p); err != nil {
			return err
		}
		dst, err := securejoin.SecureJoin(c.root, p)
		if err != nil {
			return err
		}
		if err := c.chown(dst, c.owner); err != nil {
			return err
		}
		if err := unix.Chmod(dst, unixMode(perm)); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
		c.dirTimes = append(c.dirTimes, dirTime{host: dst, mtime: fi.ModTime()})
		return nil
	case fi.Mode().IsRegular():
		// A file that .dockerignore brings back from an excluded folder needs its parent.
		if err := c.mkdirAll(path.Dir(p)); err != nil {
			return err
		}
		f, err := os.Open(host)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.create(p, f, perm, c.owner, fi.ModTime())
	case fi.Mode()&fs.ModeSymlink != 0:
		if err := c.mkdirAll(path.Dir(p)); err != nil {
			return err
		}
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		return c.symlink(p, target, c.owner, fi.ModTime())
	default:
		return nil // sockets, devices and pipes of a build context are not copied
	}
}

// writeFile writes data as the file p.
func (c *copier) writeFile(p string, data []byte, perm fs.FileMode) error {
	if c.mode != nil {
		perm = *c.mode
	}
	return c.create(p, strings.NewReader(string(data)), perm, c.owner, time.Now())
}

// create writes r as the regular file p, replacing what is there unless it is a folder.
func (c *copier) create(p string, r io.Reader, perm fs.FileMode, o owner, mtime time.Time) error {
	dst, err := c.replaceable(p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if c.buf == nil {
		c.buf = make([]byte, 128<<10)
	}
	if err := image.FillOwned(f, r, c.buf, o.uid, o.gid, unixMode(perm)); err != nil {
		return err
	}
	return setTimes(dst, mtime)
}

// symlink makes p a symlink to target.
func (c *copier) symlink(p, target string, o owner, mtime time.Time) error {
	dst, err := c.replaceable(p)
	if err != nil {
		return err
	}
	if err := os.Symlink(target, dst); err != nil {
		return err
	}
	if err := os.Lchown(dst, o.uid, o.gid); err != nil {
		return err
	}
	return setTimes(dst, mtime)
}

// replaceable returns the host path of p with whatever non-folder was there removed.
func (c *copier) replaceable(p string) (string, error) {
	dst, err := c.resolve(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return dst, nil
	case err != nil:
		return "", err
	case fi.IsDir():
		return "", fmt.Errorf("cannot replace the directory %s with a file", p)
	}
	return dst, os.Remove(dst)
}

func (c *copier) chown(host string, o owner) error {
	return os.Lchown(host, o.uid, o.gid)
}

// finish sets the times of the folders copied, deepest first.
func (c *copier) finish() error {
	for i := len(c.dirTimes) - 1; i >= 0; i-- {
		if err := setTimes(c.dirTimes[i].host, c.dirTimes[i].mtime); err != nil {
			return err
		}
	}
	c.dirTimes = nil
	return nil
}

// unixMode converts permissions with their special bits to the kernel's mode bits.
func unixMode(m fs.FileMode) uint32 {
	out := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		out |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		out |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		out |= unix.S_ISVTX
	}
	return out
}

func setTimes(host string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, host, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: host, Err: err}
	}
	return nil
}
