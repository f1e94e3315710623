package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lockCgroups takes the state root's cgroups lock, shared (while creating a container's
// cgroups) or exclusive (while removing empty /comp parents), so that a parent is never
// removed between its creation and its child's. It works across processes (flock).
func (m *Manager) lockCgroups(exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(m.root, ".cgroups.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cgroups lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cgroups lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}

// removeCgroupParents removes the /comp folder of every cgroup hierarchy once it holds no
// container: libcontainer's Destroy removes only the container's own folder. Errors are
// ignored: a parent still in use (EBUSY) stays.
func (m *Manager) removeCgroupParents() {
	unlock, err := m.lockCgroups(true)
	if err != nil {
		return
	}
	defer unlock()
	for _, mnt := range cgroupMounts() {
		_ = unix.Rmdir(filepath.Join(mnt, cgroupParent))
	}
}

// cgroupMounts lists the mount points of every cgroup (v1) and cgroup2 filesystem.
func cgroupMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, fsFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(fsFields) < 1 {
			continue
		}
		if fsFields[0] == "cgroup" || fsFields[0] == "cgroup2" {
			out = append(out, unescapeMountinfo(fields[4]))
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space…).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
