package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"

	// The cgroup managers need the device-rules driver registered, else: "cgroup manager is
	// not configured to set device rules".
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Manager starts, re-attaches to and execs into containers whose libcontainer state lives
// under one state root. It holds no state of its own: any number of Managers (in any number
// of processes) may share a root.
type Manager struct {
	root string
}

// NewManager returns a Manager keeping libcontainer's state under stateRoot (for example
// /run/comp/libcontainer: volatile, like the containers).
func NewManager(stateRoot string) (*Manager, error) {
	if err := os.MkdirAll(stateRoot, 0o700); err != nil {
		return nil, fmt.Errorf("container state root: %w", err)
	}
	abs, err := filepath.Abs(stateRoot)
	if err != nil {
		return nil, err
	}
	return &Manager{root: abs}, nil
}

// Start creates the container and runs its process; it returns once the process has been
// exec'd (with Config.Init, once comp-init has started it), so that signals and /proc reflect
// the user's command. A command missing from the image is a CommandError matching
// ErrCommandNotFound (exit code 127); an ID in use is runtime.ErrConflict. Nothing is left
// behind when Start fails. Its errors do not say "start container": the caller, which knows
// the container by the name its user gave, does.
func (m *Manager) Start(cfg Config) (*Container, error) {
	if cfg.Rootfs == "" || len(cfg.Process.Args) == 0 {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			errors.New("a rootfs and a command are needed"))
	}
	if cfg.Process.Cwd == "" {
		cfg.Process.Cwd = "/"
	}
	if !filepath.IsAbs(cfg.Process.Cwd) {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("working directory %q is not absolute", cfg.Process.Cwd))
	}
	if cfg.Hostname == "" && cfg.Network != "host" && !cfg.UTSHost {
		cfg.Hostname = cfg.ID[:min(12, len(cfg.ID))] // Docker's default: the short ID
	}
	u, err := resolveUser(cfg.Rootfs, cfg.Process.User, cfg.Process.GroupAdd...)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	// Docker creates a missing working directory.
	if err := pathrs.MkdirAll(cfg.Rootfs, cfg.Process.Cwd, 0o755); err != nil {
		return nil, fmt.Errorf("working directory %s: %w", cfg.Process.Cwd, err)
	}

	args := cfg.Process.Args
	var initBin string
	if cfg.Init {
		if initBin, err = initBinary(); err != nil {
			return nil, err
		}
		// The init binary exists, so libcontainer cannot tell that the command does not.
		if err := lookPathInRootfs(cfg.Rootfs, args[0], cfg.Process.Env, cfg.Mounts); err != nil {
			return nil, err
		}
		args = append([]string{initPath, "--"}, args...)
	}

	spec, err := buildSpec(&cfg, specUser(u), args, initBin)
	if err != nil {
		return nil, err
	}
	lcfg, err := libcontainerConfig(&cfg, spec)
	if err != nil {
		return nil, err
	}
	if lcfg.Seccomp != nil {
		if lcfg.Seccomp.Program, err = compiledSeccomp(lcfg.Seccomp); err != nil {
			return nil, err
		}
	}
	if cfg.Network != "" && cfg.Network != "host" {
		if err := loopbackUp(cfg.Network); err != nil {
			return nil, err
		}
	}

	lp := &libcontainer.Process{
		Args: args,
		// The spec's environment and groups: CDI devices' edits add to them (see applyDevices).
		Env:              spec.Process.Env,
		Cwd:              cfg.Process.Cwd,
		UID:              u.UID,
		GID:              u.GID,
		AdditionalGroups: additionalGroups(spec.Process.User),
		Init:             true,
	}
	lc, streams, err := m.run(cfg.ID, lcfg, &cfg.Process, lp, cfg.Init)
	if err != nil {
		// A failed start leaves the /comp parents of the cgroups it created.
		m.removeCgroupParents()
		return nil, err
	}
	return newChild(m, lc, lp, streams), nil
}

// run creates the container and runs lp as its init, with the cgroups lock held (shared) so
// that no Destroy removes the /comp parents meanwhile. On failure nothing is left but those
// parents.
func (m *Manager) run(id string, lcfg *configs.Config, p *Process, lp *libcontainer.Process, withInit bool) (_ *libcontainer.Container, _ *stdio, retErr error) {
	unlock, err := m.lockCgroups(false)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	lc, err := libcontainer.Create(m.root, id, lcfg)
	if err != nil {
		return nil, nil, classifyLibcontainer(err)
	}
	defer func() {
		if retErr != nil {
			_ = lc.Destroy()
		}
	}()
	streams, err := attach(p, lp)
	if err != nil {
		return nil, nil, err
	}
	if err := lc.Run(lp); err != nil {
		streams.cleanup()
		_ = lp.Signal(unix.SIGKILL)
		_, _ = lp.Wait()
		return nil, nil, commandError(lp.Args[0], err)
	}
	if err := streams.start(); err != nil {
		_ = lp.Signal(unix.SIGKILL)
		_, _ = lp.Wait()
		streams.wait()
		return nil, nil, err
	}
	if pid, err := lp.Pid(); err == nil {
		waitExec(pid, withInit)
	}
	return lc, streams, nil
}

// waitExec waits until pid, a container's init, has exec'd the user's command. libcontainer
// returns once its init has opened the exec fifo, but that init still runs Go code (and may
// load the seccomp filter) before execve: until then signals reach the Go runtime, not the
// command, and /proc/PID shows the init's handlers and environment. The command line tells:
// it is the init's before execve, empty during it (the new image's arguments are not set up
// yet, while its signal handlers may still be the old ones), and the command's after.
// withInit, PID 1 is comp-init: it catches signals only once it is about to start its child,
// so wait for the child too.
func waitExec(pid int, withInit bool) {
	initCmdline := os.Args[0] + "\x00init\x00"
	proc := "/proc/" + strconv.Itoa(pid)
	deadline := time.Now().Add(5 * time.Second)
	for pause := 20 * time.Microsecond; time.Now().Before(deadline); pause = min(2*pause, time.Millisecond) {
		b, err := os.ReadFile(proc + "/cmdline")
		if err != nil {
			return // gone
		}
		if len(b) > 0 && string(b) != initCmdline && (!withInit || hasChild(proc, pid)) {
			return // exec'd
		}
		if state, _, _, err := procStat(pid); err != nil || state == 'Z' || state == 'X' {
			return // exited
		}
		time.Sleep(pause)
	}
}

// hasChild reports whether pid has a child, or that cannot be told.
func hasChild(proc string, pid int) bool {
	b, err := os.ReadFile(proc + "/task/" + strconv.Itoa(pid) + "/children")
	return err != nil || len(bytes.TrimSpace(b)) > 0
}

// Load re-attaches to the container id, started by this or another process (a supervisor
// that has since restarted). A missing container is runtime.ErrNotFound.
func (m *Manager) Load(id string) (*Container, error) {
	lc, err := libcontainer.Load(m.root, id)
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, classifyLibcontainer(err))
	}
	return newLoaded(m, lc)
}

// Exec runs p in the running container id: it joins all of the container's namespaces and
// its cgroup, with the container's capabilities, seccomp filter and no-new-privileges. A nil
// p.Env is the environment of the container's PID 1; p.Cwd defaults to "/". Exec waits for
// the process (and its output) to end and returns its exit code (128+n for signal n); when
// ctx ends first, the process is killed. A missing command gives 127 and a CommandError.
// With p.Detach it returns 0 once the process runs, and leaves it running.
func (m *Manager) Exec(ctx context.Context, id string, p Process) (int, error) {
	if len(p.Args) == 0 {
		return -1, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("exec in %s: no command", id))
	}
	lc, err := libcontainer.Load(m.root, id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, classifyLibcontainer(err))
	}
	status, err := lc.Status()
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if status != libcontainer.Running {
		return -1, runtime.Classify(runtime.ErrConflict, fmt.Errorf("exec in %s: container is %s", id, status))
	}
	config := lc.Config()
	u, err := resolveUser(config.Rootfs, p.User, p.GroupAdd...)
	if err != nil {
		return -1, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("exec in %s: %w", id, err))
	}
	if p.Env == nil {
		if st, err := lc.State(); err == nil {
			p.Env = processEnv(st.InitProcessPid)
		}
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if p.Detach {
		p.Tty, p.Stdin, p.Stdout, p.Stderr = false, nil, nil, nil
	}
	lp := &libcontainer.Process{
		Args:             p.Args,
		Env:              p.Env,
		Cwd:              p.Cwd,
		UID:              u.UID,
		GID:              u.GID,
		AdditionalGroups: u.Groups,
	}
	if p.Privileged {
		all := allCapabilities()
		lp.Capabilities = &configs.Capabilities{Bounding: all, Effective: all, Permitted: all}
	}
	streams, err := attach(&p, lp)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := lc.Run(lp); err != nil {
		streams.cleanup()
		err = commandError(p.Args[0], err)
		if code, ok := ExitCode(err); ok {
			return code, fmt.Errorf("exec in %s: %w", id, err)
		}
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := streams.start(); err != nil {
		_ = lp.Signal(unix.SIGKILL)
		_, _ = lp.Wait()
		streams.wait()
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if p.Detach {
		// It outlives this process, as `runc exec -d` does, and is reaped by the host's init
		// once reparented. Until then it is ours to reap: the container's PID 1 cannot finish
		// exiting while a process of its namespace is an unreaped zombie.
		go func() { _, _ = lp.Wait() }()
		return 0, nil
	}

	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = lp.Signal(unix.SIGKILL)
		case <-done:
		}
	}()
	st, _ := lp.Wait()
	close(done)
	streams.wait()
	if st == nil {
		return -1, fmt.Errorf("exec in %s: lost the process", id)
	}
	code := waitStatusCode(st.Sys().(syscall.WaitStatus))
	if ctx.Err() != nil {
		return code, ctx.Err()
	}
	return code, nil
}

// processEnv reads the environment of pid, or nil.
func processEnv(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	var env []string
	for kv := range bytes.SplitSeq(bytes.TrimRight(b, "\x00"), []byte{0}) {
		env = append(env, string(kv))
	}
	return env
}

func specUser(u execUser) (su specs.User) {
	su.UID, su.GID = uint32(u.UID), uint32(u.GID)
	for _, g := range u.Groups {
		su.AdditionalGids = append(su.AdditionalGids, uint32(g))
	}
	return su
}

// additionalGroups are u's supplementary groups as libcontainer takes them.
func additionalGroups(u specs.User) []int {
	var out []int
	for _, g := range u.AdditionalGids {
		out = append(out, int(g))
	}
	return out
}

// classifyLibcontainer maps libcontainer's errors onto runtime's error classes.
func classifyLibcontainer(err error) error {
	switch {
	case errors.Is(err, libcontainer.ErrNotExist):
		return runtime.Classify(runtime.ErrNotFound, err)
	case errors.Is(err, libcontainer.ErrExist):
		return runtime.Classify(runtime.ErrConflict, err)
	case errors.Is(err, libcontainer.ErrInvalidID):
		return runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	return err
}

// loopbackUp brings lo up in the network namespace at nsPath: libcontainer only does it in
// the namespaces it creates.
func loopbackUp(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network namespace %s: lo: %w", nsPath, err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network namespace %s: lo up: %w", nsPath, err)
	}
	return nil
}
