package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
)

// runMount is one RUN --mount, resolved as BuildKit's Dockerfile frontend reads it: what the
// step's cache key needs to know of it, and where its content comes from.
type runMount struct {
	m      *instructions.Mount
	target string // absolute, in the container
	key    string // its part of the cache key

	// bind: the sources of the context or a named folder (one), or a stage's or image's
	// state and the path in it.
	srcs     []source
	srcCtx   *contextFS
	srcState *state
	source   string

	// cache
	cacheID string
	// secret: the secret (nil: missing and optional), the file target ("" for none) and the
	// environment variable ("" for none).
	secret *runtime.BuildSecret
	env    string
	// ssh: the agent socket forwarded ("" when missing and optional).
	agent string
}

// planMounts resolves the RUN's --mount flags, after variable expansion. What a mount
// cannot be is an error at loc.
func (bd *build) planMounts(ctx context.Context, st *state, c *instructions.RunCommand, label string, loc []parser.Range) ([]runMount, error) {
	var out []runMount
	sshMounts := 0
	wd := st.config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	for _, m := range instructions.GetMounts(c) {
		flag := "RUN --mount=type=" + string(m.Type)
		rm := runMount{m: m}
		if m.Target != "" {
			rm.target = m.Target
			if !path.IsAbs(rm.target) {
				rm.target = path.Join(wd, rm.target)
			}
			rm.target = path.Clean(rm.target)
			if rm.target == "/" {
				return nil, bd.df.invalid(loc, "%s: invalid mount target %q", flag, m.Target)
			}
		} else if m.Type != instructions.MountTypeSecret && m.Type != instructions.MountTypeSSH {
			return nil, bd.df.invalid(loc, "%s: the mount has no target", flag)
		}
		rm.source = strings.TrimPrefix(path.Clean("/"+m.Source), "/")
		if rm.source == "" {
			rm.source = "."
		}
		switch m.Type {
		case instructions.MountTypeBind:
			if err := bd.planBind(ctx, &rm, label); err != nil {
				return nil, bd.df.At(loc, fmt.Errorf("%s,source=%s: %w", flag, m.Source, err))
			}
		case instructions.MountTypeCache:
			if m.From != "" || m.Source != "" {
				return nil, bd.df.unsupported(loc, "%s with from= or source=: the embedded builder cannot seed a cache mount "+
					"from a stage or image; remove from= and source=, and fill the cache in the RUN", flag)
			}
			rm.cacheID = m.CacheID
			if rm.cacheID == "" {
				rm.cacheID = rm.target
			}
			rm.key = fmt.Sprintf("cache %q %q %q %v %s", rm.target, rm.cacheID, m.CacheSharing, m.ReadOnly, fileOpts(m))
		case instructions.MountTypeTmpfs:
			rm.key = fmt.Sprintf("tmpfs %q %d", rm.target, m.SizeLimit)
		case instructions.MountTypeSecret:
			if err := bd.planSecret(&rm); err != nil {
				return nil, bd.df.At(loc, err)
			}
		case instructions.MountTypeSSH:
			if err := bd.planSSH(&rm, sshMounts); err != nil {
				return nil, bd.df.At(loc, err)
			}
			sshMounts++
		default:
			return nil, bd.df.unsupported(loc, "%s is not supported by the embedded builder", flag)
		}
		out = append(out, rm)
	}
	return out, nil
}

// fileOpts is a mount's uid, gid and mode, for keys.
func fileOpts(m *instructions.Mount) string {
	f := func(p *uint64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatUint(*p, 10)
	}
	return f(m.UID) + ":" + f(m.GID) + ":" + f(m.Mode)
}

// planBind finds what a bind mount shows: a path of the build context, of a named context, of
// a stage or of an image; its key holds the content (for a folder of the host) or the state.
func (bd *build) planBind(ctx context.Context, rm *runMount, label string) error {
	src, err := bd.resolveFrom(ctx, rm.m.From, label)
	if err != nil {
		return err
	}
	if src.state != nil {
		rm.srcState = src.state
		rm.key = fmt.Sprintf("bind %q from %s %q %v", rm.target, src.state.digest(), rm.source, rm.m.ReadOnly)
		return nil
	}
	srcs, err := resolveSources(src.dir.dir, src.dir, []string{rm.source})
	if err != nil {
		return err
	}
	digest, err := digestSources(srcs)
	if err != nil {
		return err
	}
	rm.srcs, rm.srcCtx = srcs, src.dir
	rm.key = fmt.Sprintf("bind %q context %s %v", rm.target, digest, rm.m.ReadOnly)
	return nil
}

// planSecret finds the build secret a secret mount names: id=, else source=, else the
// target's base name; it is a file at target= (default /run/secrets/ID) unless env= alone
// asks for an environment variable.
func (bd *build) planSecret(rm *runMount) error {
	m := rm.m
	id := m.CacheID
	if m.Source != "" {
		id = m.Source
	}
	if id == "" {
		if m.Target == "" {
			return runtime.Classify(runtime.ErrInvalidArgument, errors.New("RUN --mount=type=secret: one of id, source or target is needed"))
		}
		id = path.Base(m.Target)
	}
	if m.Env != nil {
		rm.env = *m.Env
		if rm.env == "" {
			rm.env = id
		}
	} else if rm.target == "" {
		rm.target = "/run/secrets/" + path.Base(id)
	}
	if s, ok := bd.opts.secrets[id]; ok {
		rm.secret = &s
	} else if m.Required {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("RUN --mount=type=secret,id=%s: secret %s is required "+
			"and the build has none of that ID: add it to the service's build.secrets", id, id))
	}
	// The key knows the secret is there, never its value.
	rm.key = fmt.Sprintf("secret %q %q %q %v %s", id, rm.target, rm.env, rm.secret != nil, fileOpts(m))
	return nil
}

// planSSH finds the agent an ssh mount forwards, build.ssh's entry of its id (default
// "default"), at its target (default /run/buildkit/ssh_agent.N, N counting the RUN's ssh
// mounts); the first one is SSH_AUTH_SOCK, as BuildKit does.
func (bd *build) planSSH(rm *runMount, n int) error {
	id := rm.m.CacheID
	if id == "" {
		id = "default"
	}
	if rm.target == "" {
		rm.target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", n)
	}
	if n == 0 {
		rm.env = "SSH_AUTH_SOCK"
	}
	if rm.m.UID != nil || rm.m.GID != nil || rm.m.Mode != nil {
		return runtime.Classify(runtime.ErrNotImplemented, errors.New("RUN --mount=type=ssh with uid, gid or mode: the embedded builder "+
			"forwards the agent's own socket, whose owner and mode it does not change; drop them and run the step as root"))
	}
	if sock, ok := bd.opts.ssh[id]; ok {
		rm.agent = sock
	} else if rm.m.Required {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("RUN --mount=type=ssh,id=%s: the build forwards no SSH agent of that ID: "+
			"add it to the service's build.ssh", id))
	}
	rm.key = fmt.Sprintf("ssh %q %q %v %s", id, rm.target, rm.agent != "", fileOpts(rm.m))
	return nil
}

// fromSource is what a from= names: a state (a stage, an image) or a folder of the host.
type fromSource struct {
	state *state
	dir   *contextFS
}

// resolveFrom finds what a COPY --from= or a bind mount's from= names: "" is the build
// context; then a stage (by name or number), a named context (build.additional_contexts), an
// image.
func (bd *build) resolveFrom(ctx context.Context, from, label string) (fromSource, error) {
	if from == "" {
		return fromSource{dir: bd.context}, nil
	}
	if j := bd.df.stageRef(from, true); j >= 0 {
		st, ok := bd.stages[j]
		if !ok {
			return fromSource{}, fmt.Errorf("stage %s is not built", from)
		}
		return fromSource{state: st}, nil
	}
	ref := from
	if nc, ok := bd.opts.contexts[from]; ok {
		if nc.dir != nil {
			return fromSource{dir: nc.dir}, nil
		}
		ref = nc.image
	}
	img, err := bd.image(ctx, ref, label)
	if err != nil {
		return fromSource{}, err
	}
	st := &state{config: img.Config, args: &vars{}}
	for k := range img.Layers {
		st.layers = append(st.layers, layer{diffID: img.DiffIDs[k], dir: img.Layers[k]})
	}
	return fromSource{state: st}, nil
}

// runSetup is what a RUN's mounts add to its container, and what to undo after it.
type runSetup struct {
	mounts []container.Mount
	tmpfs  map[string]string
	env    []string
	undo   []func()
}

func (s *runSetup) release() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// setupMounts makes the mounts ready in stepDir: overlays of stages and images (so that a
// read-write mount's writes are thrown away), copies of context folders that .dockerignore
// filters, cache folders (locked as their sharing says), secrets in a tmpfs that no layer
// sees. The caller releases the setup, also on error.
func (bd *build) setupMounts(stepDir string, mounts []runMount, setup *runSetup) error {
	for i, rm := range mounts {
		dir := filepath.Join(stepDir, "mnt", strconv.Itoa(i))
		switch rm.m.Type {
		case instructions.MountTypeBind:
			src, err := bd.bindSource(dir, rm, setup)
			if err != nil {
				return fmt.Errorf("RUN --mount=type=bind,target=%s: %w", rm.target, err)
			}
			setup.mounts = append(setup.mounts, container.Mount{Source: src, Target: rm.target, ReadOnly: rm.m.ReadOnly})
		case instructions.MountTypeCache:
			src, release, err := bd.cacheDir(rm)
			if err != nil {
				return fmt.Errorf("RUN --mount=type=cache,target=%s: %w", rm.target, err)
			}
			setup.undo = append(setup.undo, release)
			setup.mounts = append(setup.mounts, container.Mount{Source: src, Target: rm.target, ReadOnly: rm.m.ReadOnly})
		case instructions.MountTypeTmpfs:
			opts := "exec" // BuildKit's tmpfs mounts may hold programs
			if rm.m.SizeLimit > 0 {
				opts += ",size=" + strconv.FormatInt(rm.m.SizeLimit, 10)
			}
			if setup.tmpfs == nil {
				setup.tmpfs = map[string]string{}
			}
			setup.tmpfs[rm.target] = opts
		case instructions.MountTypeSSH:
			if rm.agent == "" {
				continue // optional and missing: no mount
			}
			if rm.env != "" {
				setup.env = append(setup.env, rm.env+"="+rm.target)
			}
			setup.mounts = append(setup.mounts, container.Mount{Source: rm.agent, Target: rm.target})
		case instructions.MountTypeSecret:
			if rm.secret == nil {
				continue // optional and missing: no mount, as BuildKit does
			}
			value := rm.secret.Value
			if rm.secret.File != "" {
				var err error
				if value, err = os.ReadFile(rm.secret.File); err != nil {
					return fmt.Errorf("RUN --mount=type=secret,id=%s: %w", rm.secret.ID, err)
				}
			}
			if rm.env != "" {
				setup.env = append(setup.env, rm.env+"="+string(value))
			}
			if rm.target == "" {
				continue
			}
			file, err := writeSecret(stepDir, i, value, rm.m, setup)
			if err != nil {
				return fmt.Errorf("RUN --mount=type=secret,id=%s: %w", rm.secret.ID, err)
			}
			setup.mounts = append(setup.mounts, container.Mount{Source: file, Target: rm.target, ReadOnly: true})
		}
	}
	return nil
}

// bindSource is the host path a bind mount shows, made in dir.
func (bd *build) bindSource(dir string, rm runMount, setup *runSetup) (string, error) {
	if rm.srcState != nil {
		merged, err := mountOverlay(rm.srcState.dirs(), dir)
		if err != nil {
			return "", err
		}
		setup.undo = append(setup.undo, func() { _ = unmountOverlay(dir) })
		host, err := securejoin.SecureJoin(merged, rm.source)
		if err != nil {
			return "", err
		}
		if _, err := os.Lstat(host); err != nil {
			return "", fmt.Errorf("source %s: %w in %s", rm.m.Source, errNoSource, rm.m.From)
		}
		return host, nil
	}
	s := rm.srcs[0]
	switch {
	case s.info.IsDir() && rm.srcCtx.ignore.File != "":
		// .dockerignore hides part of the folder: show a copy of what it keeps.
		cp := &copier{root: filepath.Join(dir, "copy")}
		if err := os.MkdirAll(cp.root, 0o755); err != nil {
			return "", err
		}
		if err := cp.copyTree(s, "/"); err != nil {
			return "", err
		}
		return cp.root, cp.finish()
	case rm.m.ReadOnly:
		return s.host, nil
	case s.info.IsDir():
		// Writes go to an upper folder that is thrown away, never to the host's folder.
		merged, err := mountOverlay([]string{s.host}, dir)
		if err != nil {
			return "", err
		}
		setup.undo = append(setup.undo, func() { _ = unmountOverlay(dir) })
		return merged, nil
	default:
		cp := &copier{root: filepath.Join(dir, "copy")}
		if err := os.MkdirAll(cp.root, 0o755); err != nil {
			return "", err
		}
		if err := cp.copyTree(s, "/"+s.name); err != nil {
			return "", err
		}
		return filepath.Join(cp.root, s.name), cp.finish()
	}
}

// secretsDir is a step's tmpfs for its secrets, so that no secret is written to disk.
const secretsDir = "secrets"

// writeSecret writes a secret's value as file n of the step's secrets tmpfs (mounted at the
// first secret), owned and moded as the mount says (default 0:0, 0400).
func writeSecret(stepDir string, n int, value []byte, m *instructions.Mount, setup *runSetup) (string, error) {
	dir := filepath.Join(stepDir, secretsDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return "", err
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=16m"); err != nil {
			return "", fmt.Errorf("mount a tmpfs for secrets: %w", err)
		}
		setup.undo = append(setup.undo, func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	}
	uid, gid, mode := 0, 0, uint64(0o400)
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if m.Mode != nil {
		mode = *m.Mode
	}
	file := filepath.Join(dir, strconv.Itoa(n))
	if err := os.WriteFile(file, value, 0o600); err != nil {
		return "", err
	}
	if err := os.Chown(file, uid, gid); err != nil {
		return "", err
	}
	if err := os.Chmod(file, fs.FileMode(mode&0o777)); err != nil {
		return "", err
	}
	return file, nil
}

// cacheDir is the folder of a cache mount, under Builder.CacheDir/<hash of the ID>/<n>, held
// as its sharing says until release: shared (the default) with other shared users; locked,
// alone, waiting for the others; private, alone, in a new instance (n+1) when one is in use.
// A new folder gets the mount's uid, gid and mode (default 0:0, 0755), as BuildKit's does.
func (bd *build) cacheDir(rm runMount) (string, func(), error) {
	if bd.CacheDir == "" {
		return "", nil, errors.New("the builder has no cache folder")
	}
	sum := sha256.Sum256([]byte(rm.cacheID))
	base := filepath.Join(bd.CacheDir, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", nil, err
	}
	// For a person looking: which ID the folder is.
	_ = os.WriteFile(filepath.Join(base, "id"), []byte(rm.cacheID+"\n"), 0o600)
	for n := 0; ; n++ {
		lock, err := os.OpenFile(filepath.Join(base, strconv.Itoa(n)+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return "", nil, err
		}
		how := unix.LOCK_SH
		switch rm.m.CacheSharing {
		case instructions.MountSharingLocked:
			how = unix.LOCK_EX
		case instructions.MountSharingPrivate:
			how = unix.LOCK_EX | unix.LOCK_NB
		}
		if err := flock(lock, how); err != nil {
			lock.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // in use: a private mount takes the next instance
			}
			return "", nil, err
		}
		dir := filepath.Join(base, strconv.Itoa(n))
		if err := makeCacheDir(dir, rm.m); err != nil {
			lock.Close()
			return "", nil, err
		}
		return dir, func() { lock.Close() }, nil
	}
}

// flock locks f, again when a signal interrupts the wait.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// makeCacheDir creates a cache folder if missing, with the mount's owner and mode.
func makeCacheDir(dir string, m *instructions.Mount) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	uid, gid, mode := 0, 0, uint64(0o755)
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if m.Mode != nil {
		mode = *m.Mode
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	return unix.Chmod(dir, uint32(mode&0o7777))
}

// hostsFile writes the /etc/hosts a RUN sees with build.extra_hosts: the host's (on the host's
// network) or localhost alone, then one line per extra host.
func hostsFile(stepDir, network string, extra []string) (string, error) {
	var b strings.Builder
	if network == "host" {
		if text, err := os.ReadFile("/etc/hosts"); err == nil {
			b.Write(text)
			if len(text) > 0 && text[len(text)-1] != '\n' {
				b.WriteByte('\n')
			}
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	}
	for _, h := range extra {
		name, ip, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	p := filepath.Join(stepDir, "hosts")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}
