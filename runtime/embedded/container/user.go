package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
)

// execUser is a process's resolved identity.
type execUser struct {
	UID, GID int
	Groups   []int // supplementary groups from /etc/group
}

// resolveUser resolves spec ("", "uid[:gid]", "name[:group]") against the rootfs's
// /etc/passwd and /etc/group, with Docker's rules: a numeric uid missing from /etc/passwd is
// allowed (gid 0), a missing name is an error. groupAdd are supplementary groups added to the
// user's (group_add), resolved in /etc/group as Docker does (moby/sys/user): a name must be
// there, a number need not.
func resolveUser(rootfs, spec string, groupAdd ...string) (execUser, error) {
	passwd, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInRootfs(rootfs, "/etc/group")
	if err != nil {
		return execUser{}, err
	}
	if group != nil {
		defer group.Close()
	}
	defaults := &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
	// A nil *os.File must reach GetExecUser as a nil io.Reader.
	var p, g io.Reader
	if passwd != nil {
		p = passwd
	}
	if group != nil {
		g = group
	}
	u, err := user.GetExecUser(spec, defaults, p, g)
	if err != nil {
		return execUser{}, fmt.Errorf("user %q: %w", spec, err)
	}
	eu := execUser{UID: u.Uid, GID: u.Gid, Groups: u.Sgids}
	if len(groupAdd) > 0 {
		if group != nil {
			if _, err := group.Seek(0, io.SeekStart); err != nil {
				return execUser{}, err
			}
		}
		added, err := user.GetAdditionalGroups(groupAdd, g)
		if err != nil {
			return execUser{}, fmt.Errorf("group_add: %w", err)
		}
		for _, gid := range added {
			if !slices.Contains(eu.Groups, gid) {
				eu.Groups = append(eu.Groups, gid)
			}
		}
	}
	return eu, nil
}

// ResolveUser resolves spec ("", "uid[:gid]", "name[:group]") against rootfs's /etc/passwd
// and /etc/group with Docker's rules, as a process started in that root would run: the
// builder uses it for USER and COPY ownership.
func ResolveUser(rootfs, spec string) (uid, gid int, groups []int, err error) {
	u, err := resolveUser(rootfs, spec)
	return u.UID, u.GID, u.Groups, err
}

// OpenInRootfs opens name inside rootfs, resolving symlinks as the container would see them;
// a missing file is (nil, nil).
func OpenInRootfs(rootfs, name string) (*os.File, error) { return openInRootfs(rootfs, name) }

func openInRootfs(rootfs, name string) (*os.File, error) {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// lookPathInRootfs reports whether the command cmd can be found in rootfs with the PATH of env,
// as exec.LookPath would inside the container, and returns a CommandError when it cannot.
// Paths under one of the bind mount targets are not checked: their content is not in rootfs.
func lookPathInRootfs(rootfs string, cmd string, env []string, mounts []Mount) error {
	candidates := []string{cmd}
	if !strings.Contains(cmd, "/") {
		pathEnv, ok := lookupEnv(env, "PATH")
		if !ok {
			pathEnv = defaultPath
		}
		candidates = nil
		for dir := range strings.SplitSeq(pathEnv, ":") {
			if dir == "" {
				dir = "."
			}
			candidates = append(candidates, path.Join(dir, cmd))
		}
	}
	notExecutable := false
	for _, c := range candidates {
		if !path.IsAbs(c) || underMount(c, mounts) {
			return nil // relative to the cwd, or not in rootfs: let the container decide
		}
		p, err := securejoin.SecureJoin(rootfs, c)
		if err != nil {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return nil
		}
		notExecutable = true
	}
	if notExecutable && strings.Contains(cmd, "/") {
		return &CommandError{Command: cmd, ExitCode: 126, reason: "permission denied", class: ErrCommandNotExecutable, err: os.ErrPermission}
	}
	reason := "executable file not found in $PATH"
	if strings.Contains(cmd, "/") {
		reason = "no such file or directory"
	}
	return &CommandError{Command: cmd, ExitCode: 127, reason: reason, class: ErrCommandNotFound, err: os.ErrNotExist}
}

func underMount(p string, mounts []Mount) bool {
	for _, m := range mounts {
		t := path.Clean(m.Target)
		if p == t || strings.HasPrefix(p, t+"/") || t == "/" {
			return true
		}
	}
	return false
}
