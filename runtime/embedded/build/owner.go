package build

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/user"

	"github.com/comp-dev/comp/runtime/embedded/container"
)

// owner is a numeric owner for files a step writes.
type owner struct{ uid, gid int }

// chownOwner resolves a --chown value, "user[:group]", names looked up in the rootfs's
// /etc/passwd and /etc/group. Without a group, the group is the user's numeric ID, as Docker
// does.
func chownOwner(rootfs, spec string) (owner, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	if u == "" {
		return owner{}, fmt.Errorf("--chown=%s: no user", spec)
	}
	uid, err := strconv.Atoi(u)
	if err != nil {
		users, err := parsePasswd(rootfs, func(e user.User) bool { return e.Name == u })
		if err != nil {
			return owner{}, fmt.Errorf("--chown=%s: %w", spec, err)
		}
		if len(users) == 0 {
			return owner{}, fmt.Errorf("--chown=%s: unable to find user %s: no matching entries in passwd file", spec, u)
		}
		uid = users[0].Uid
	}
	if !hasGroup {
		return owner{uid: uid, gid: uid}, nil
	}
	gid, err := strconv.Atoi(g)
	if err != nil {
		groups, err := parseGroup(rootfs, func(e user.Group) bool { return e.Name == g })
		if err != nil {
			return owner{}, fmt.Errorf("--chown=%s: %w", spec, err)
		}
		if len(groups) == 0 {
			return owner{}, fmt.Errorf("--chown=%s: unable to find group %s: no matching entries in group file", spec, g)
		}
		gid = groups[0].Gid
	}
	return owner{uid: uid, gid: gid}, nil
}

// userOwner resolves a USER value ("name", "uid", "name:group", …) as a process would run:
// without a group, the user's primary group.
func userOwner(rootfs, spec string) (owner, error) {
	uid, gid, _, err := container.ResolveUser(rootfs, spec)
	if err != nil {
		return owner{}, err
	}
	return owner{uid: uid, gid: gid}, nil
}

func parsePasswd(rootfs string, filter func(user.User) bool) ([]user.User, error) {
	f, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	return user.ParsePasswdFilter(f, filter)
}

func parseGroup(rootfs string, filter func(user.Group) bool) ([]user.Group, error) {
	f, err := openInRootfs(rootfs, "/etc/group")
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	return user.ParseGroupFilter(f, filter)
}

// openInRootfs opens name inside rootfs (see container.OpenInRootfs).
func openInRootfs(rootfs, name string) (*os.File, error) { return container.OpenInRootfs(rootfs, name) }
