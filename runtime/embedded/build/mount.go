package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMountData is the kernel's limit on mount options: one page, NUL included.
const maxMountData = 4095

// safeOverlayOptions keep every change of an overlay's upper folder a plain copy: with index,
// redirect_dir or metacopy on (kernel defaults may turn them on), a renamed folder or a
// chowned file would be recorded as a reference to the lower layers, not as content, and the
// layer tar of the upper folder would miss it.
const safeOverlayOptions = ",index=off,redirect_dir=off,metacopy=off"

// mountOverlay mounts the layers (lowest first) with dir/upper as the writable layer at
// dir/merged and returns dir/merged.
func mountOverlay(layers []string, dir string) (string, error) {
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("build: mount rootfs: %w", err)
		}
	}
	if len(layers) == 0 {
		// overlay needs a lower folder: an empty one stands for scratch.
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", fmt.Errorf("build: mount rootfs: %w", err)
		}
		layers = []string{empty}
	}
	lower := slices.Clone(layers)
	slices.Reverse(lower) // overlay lists the top layer first
	for _, p := range append(slices.Clone(lower), upper, work) {
		if strings.ContainsAny(p, ",:\n") {
			return "", fmt.Errorf("build: mount rootfs: path %q holds a character overlay cannot take (, or :)", p)
		}
	}
	opts := "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts)+len(safeOverlayOptions) > maxMountData {
		return "", fmt.Errorf("build: mount rootfs: %d layers make overlay options longer than the kernel's %d bytes", len(layers), maxMountData)
	}
	err := unix.Mount("overlay", merged, "overlay", 0, opts+safeOverlayOptions)
	if errors.Is(err, unix.EINVAL) {
		// An old kernel that knows not all of the options: it has none of those features.
		err = unix.Mount("overlay", merged, "overlay", 0, opts)
	}
	if err != nil {
		return "", fmt.Errorf("build: mount rootfs: overlay: %w", err)
	}
	return merged, nil
}

// unmountOverlay unmounts dir/merged and removes overlay's work folder. Unmounting what is
// not mounted does nothing.
func unmountOverlay(dir string) error {
	merged := filepath.Join(dir, "merged")
	for {
		err := unix.Unmount(merged, 0)
		switch {
		case err == nil:
			continue // mounted more than once: unmount them all
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			// Not a mount point (any more).
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("build: unmount %s: %w", merged, err)
			}
		default:
			return fmt.Errorf("build: unmount %s: %w", merged, err)
		}
		return os.RemoveAll(filepath.Join(dir, "work"))
	}
}
