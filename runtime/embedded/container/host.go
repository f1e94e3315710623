package container

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/sys/devices"
	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// swapAccounting reports whether the kernel accounts swap in memory cgroups, so that a
// memory+swap limit can be set (Docker's SwapLimit).
var swapAccounting = sync.OnceValue(func() bool {
	if !cgroups.IsCgroup2UnifiedMode() {
		mnt, err := cgroups.FindCgroupMountpoint("", "memory")
		if err != nil {
			return false
		}
		_, err = os.Stat(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
		return err == nil
	}
	// On v2 the root cgroup has no memory.swap.* files: look in our own cgroup.
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil || own[""] == "" || own[""] == "/" {
		return false
	}
	_, err = os.Stat(filepath.Join("/sys/fs/cgroup", own[""], "memory.swap.max"))
	return err == nil
})

// hostDevices lists the host's devices for a privileged container.
func hostDevices() ([]specs.LinuxDevice, error) {
	devs, err := devices.HostDevices()
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	var out []specs.LinuxDevice
	for _, d := range devs {
		// /dev/pts, /dev/mqueue and /dev/shm are mounts of their own; /dev/console and
		// /dev/ptmx are set up by libcontainer.
		if strings.HasPrefix(d.Path, "/dev/pts/") || d.Path == "/dev/console" || d.Path == "/dev/ptmx" {
			continue
		}
		var t string
		switch d.Type {
		case devconfig.BlockDevice:
			t = "b"
		case devconfig.CharDevice:
			t = "c"
		case devconfig.FifoDevice:
			t = "p"
		default:
			continue
		}
		mode := d.FileMode
		out = append(out, specs.LinuxDevice{
			Path: d.Path, Type: t, Major: d.Major, Minor: d.Minor,
			FileMode: &mode, UID: ptr(d.Uid), GID: ptr(d.Gid),
		})
	}
	return out, nil
}

// staticBinary reports whether the ELF file at path needs no dynamic loader.
func staticBinary(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// initBinary is the resolved path of the running binary, once checked to be static.
var initBinary = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("init: find the comp binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("init: find the comp binary: %w", err)
	}
	static, err := staticBinary(exe)
	if err != nil {
		return "", fmt.Errorf("init: inspect %s: %w", exe, err)
	}
	if !static {
		return "", fmt.Errorf("init: %s: %w (build comp with go run ./internal/buildcomp, which links it statically)", exe, ErrNotStatic)
	}
	return exe, nil
})
