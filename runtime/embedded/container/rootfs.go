package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/comp-dev/comp/runtime"
	"golang.org/x/sys/unix"
)

// maxMountData is the kernel's limit on mount options: one page, NUL included.
const maxMountData = 4095

// MountRootfs mounts an overlay of layers (unpacked layer folders, lowest first) with the
// writable dir/upper (dir/work as overlay's work folder) at dir/merged and returns
// dir/merged. An existing upper keeps its content, so a restarted container finds its
// changes. Overlay's options must fit in a page, so pass short layer paths: longer options
// are runtime.ErrInvalidArgument. Mounting an already mounted dir does nothing.
func MountRootfs(layers []string, dir string) (string, error) {
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("mount rootfs %s: %w", dir, err)
		}
	}
	if mounted, err := isMountPoint(merged); err != nil {
		return "", fmt.Errorf("mount rootfs %s: %w", dir, err)
	} else if mounted {
		return merged, nil
	}
	if len(layers) == 0 {
		// overlay needs a lower folder: an empty one stands for an image with no layer.
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", fmt.Errorf("mount rootfs %s: %w", dir, err)
		}
		layers = []string{empty}
	}
	lower := slices.Clone(layers)
	slices.Reverse(lower) // overlay lists the top layer first
	for _, p := range append(slices.Clone(lower), upper, work) {
		if strings.ContainsAny(p, ",:\n") {
			return "", runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("mount rootfs %s: path %q holds a character overlay cannot take (, or :)", dir, p))
		}
	}
	opts := "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) > maxMountData {
		return "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
			"mount rootfs %s: overlay options are %d bytes, more than the kernel's %d: shorten the layer paths",
			dir, len(opts), maxMountData))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount rootfs %s: overlay: %w", dir, err)
	}
	return merged, nil
}

// UnmountRootfs unmounts dir/merged, mounted by MountRootfs, and dir/shm, mounted by
// MountShm; the folders (and the container's changes in dir/upper) stay for the caller to
// remove. Unmounting what is not mounted does nothing. A mount still busy is detached lazily.
func UnmountRootfs(dir string) error {
	if err := unmountAll(filepath.Join(dir, ShmDir)); err != nil {
		return err
	}
	return unmountAll(filepath.Join(dir, "merged"))
}

// unmountAll unmounts every mount on merged (detaching a busy one), for UnmountRootfs.
func unmountAll(merged string) error {
	dir := filepath.Dir(merged)
	for {
		err := unix.Unmount(merged, 0)
		switch {
		case err == nil:
			continue // mounted more than once: unmount them all
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not a mount point (any more)
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount rootfs %s: %w", dir, err)
			}
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount rootfs %s: %w", dir, err)
		}
	}
}

// isMountPoint reports whether p is a mount point, comparing its mount ID with its parent's.
func isMountPoint(p string) (bool, error) {
	id := func(p string) (uint64, error) {
		var stx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
			return 0, err
		}
		return stx.Mnt_id, nil
	}
	a, err := id(p)
	if err != nil {
		return false, err
	}
	b, err := id(filepath.Dir(p))
	if err != nil {
		return false, err
	}
	return a != b, nil
}
