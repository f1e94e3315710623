package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// killTimeout bounds the wait for a container to die once SIGKILLed.
const killTimeout = 10 * time.Second

// Container is a started or re-attached container. Its methods are safe for concurrent use.
type Container struct {
	m   *Manager
	lc  *libcontainer.Container
	pid int

	// Set for a container this process started (a child): done closes once the init process
	// has been reaped and its output copied, and exitCode is then its exit code.
	child    bool
	done     chan struct{}
	exitCode int
	streams  *stdio

	// For a Loaded container: the exit code, when this process turned out to be the init's
	// parent (a subreaper it was reparented to) and reaped it.
	mu         sync.Mutex
	reapedCode *int
}

func newChild(m *Manager, lc *libcontainer.Container, lp *libcontainer.Process, streams *stdio) *Container {
	pid, _ := lp.Pid()
	c := &Container{m: m, lc: lc, pid: pid, child: true, done: make(chan struct{}), streams: streams}
	go func() {
		st, _ := lp.Wait()
		streams.wait()
		c.exitCode = -1
		if st != nil {
			c.exitCode = waitStatusCode(st.Sys().(syscall.WaitStatus))
		}
		close(c.done)
	}()
	return c
}

func newLoaded(m *Manager, lc *libcontainer.Container) (*Container, error) {
	st, err := lc.State()
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", lc.ID(), err)
	}
	return &Container{m: m, lc: lc, pid: st.InitProcessPid}, nil
}

// ID returns the container's ID.
func (c *Container) ID() string { return c.lc.ID() }

// Pid returns the host PID of the container's init process (PID 1 inside).
func (c *Container) Pid() int { return c.pid }

// Running reports whether the container's init process is alive.
func (c *Container) Running() bool {
	if c.child {
		select {
		case <-c.done:
			return false
		default:
		}
	}
	st, err := c.lc.Status()
	return err == nil && (st == libcontainer.Running || st == libcontainer.Created || st == libcontainer.Paused)
}

// Wait waits for the container's init process to exit and returns its exit code (128+n for
// signal n). For a container started by this process the code is exact, and output copies
// have ended. A Loaded one is normally not this process's child, so its status cannot be
// collected: Wait watches it (pidfd, else /proc) and returns -1, "unknown" (unless this
// process is its parent after all, a subreaper it was reparented to: then it reaps it and
// returns the code).
func (c *Container) Wait() (int, error) {
	if c.child {
		<-c.done
		return c.exitCode, nil
	}
	if err := c.watchExit(-1); err != nil {
		return -1, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reapedCode != nil {
		return *c.reapedCode, nil
	}
	return -1, nil
}

// reapIfChild collects the exit status of a Loaded container's exited init if this process
// is its parent. It checks that pid is still that init (an unreaped zombie with the recorded
// start time), so that it never reaps another child of this process.
func (c *Container) reapIfChild() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reapedCode != nil {
		return
	}
	st, err := c.lc.State()
	if err != nil {
		return
	}
	state, ppid, start, err := procStat(c.pid)
	if err != nil || state != 'Z' || ppid != os.Getpid() || start != st.InitProcessStartTime {
		return
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(c.pid, &ws, unix.WNOHANG, nil); err == nil && pid == c.pid {
		code := waitStatusCode(syscall.WaitStatus(ws))
		c.reapedCode = &code
	}
}

// procStat reads the state, parent and start time of pid from /proc/PID/stat.
func procStat(pid int) (state byte, ppid int, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// pid (comm) state ppid … starttime (field 22) …: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	if start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return f[0][0], ppid, start, nil
}

// waitExit waits up to timeout (negative: forever) for the init process to exit and reports
// whether it did.
func (c *Container) waitExit(timeout time.Duration) bool {
	if c.child {
		if timeout < 0 {
			<-c.done
			return true
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-c.done:
			return true
		case <-t.C:
			return false
		}
	}
	return c.watchExit(timeout) == nil
}

// errTimeout is watchExit's answer when the process outlived the timeout.
var errTimeout = errors.New("timed out")

// watchExit waits up to timeout (negative: forever) for the init process of a container that
// is not our child to exit.
func (c *Container) watchExit(timeout time.Duration) error {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	fd, err := unix.PidfdOpen(c.pid, 0)
	if err == nil {
		defer unix.Close(fd)
		// The pid may have been reused before the pidfd was opened: check that it is still
		// the container's init (libcontainer compares start times).
		if !c.alive() {
			c.reapIfChild()
			return nil
		}
		for {
			ms := -1
			if !deadline.IsZero() {
				ms = int(time.Until(deadline) / time.Millisecond)
				if ms < 0 {
					return errTimeout
				}
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("wait for container %s: %w", c.ID(), err)
			}
			if n > 0 {
				c.reapIfChild()
				return nil
			}
		}
	}
	// No pidfd (old kernel): poll.
	for c.alive() {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.reapIfChild()
	return nil
}

// alive reports whether the recorded init process still runs (not a zombie, same start time).
func (c *Container) alive() bool {
	st, err := c.lc.Status()
	return err == nil && st != libcontainer.Stopped
}

// Signal sends sig to the container's PID 1. Note that the kernel drops a signal that PID 1 of
// a pid namespace has no handler for (see HandlesSignal), SIGKILL and SIGSTOP excepted.
func (c *Container) Signal(sig syscall.Signal) error {
	if err := c.lc.Signal(sig); err != nil {
		if errors.Is(err, libcontainer.ErrNotRunning) {
			err = runtime.Classify(runtime.ErrConflict, err)
		}
		return fmt.Errorf("signal container %s: %w", c.ID(), err)
	}
	return nil
}

// Stop sends sig (0: SIGTERM) to PID 1, waits up to timeout for the container to exit, then
// kills every process in it. When PID 1 has no handler for sig, the kernel would drop it, so
// Stop kills at once instead of waiting for nothing. Stop returns once the init process has
// exited; stopping a stopped container does nothing.
func (c *Container) Stop(sig syscall.Signal, timeout time.Duration) error {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if !c.Running() {
		return nil
	}
	if sig != syscall.SIGKILL {
		handled, err := HandlesSignal(c.pid, sig)
		if err == nil && handled {
			if err := c.lc.Signal(sig); err == nil && c.waitExit(timeout) {
				return nil
			}
		}
	}
	return c.kill()
}

// kill SIGKILLs PID 1 (which takes down its pid namespace) and whatever else is in the
// cgroup, and waits for the init process to exit.
func (c *Container) kill() error {
	if c.Running() {
		_ = c.lc.Signal(unix.SIGKILL)
	}
	c.killCgroup()
	if !c.waitExit(killTimeout) {
		return fmt.Errorf("stop container %s: init process %d did not exit %s after SIGKILL", c.ID(), c.pid, killTimeout)
	}
	return nil
}

// killCgroup SIGKILLs every process left in the container's cgroup.
func (c *Container) killCgroup() {
	pids, err := c.lc.Processes()
	if err != nil {
		return
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// Destroy kills whatever remains of the container, removes its cgroups (and the /comp
// parents left empty in every hierarchy) and libcontainer's state folder. Destroying a
// destroyed container does nothing.
func (c *Container) Destroy() error {
	if err := c.kill(); err != nil {
		return fmt.Errorf("destroy container %s: %w", c.ID(), err)
	}
	// Processes that were not in the pid namespace (none, normally) may still need a moment
	// to leave the cgroup; libcontainer retries its removal.
	c.killCgroup()
	if err := c.lc.Destroy(); err != nil {
		return fmt.Errorf("destroy container %s: %w", c.ID(), err)
	}
	c.m.removeCgroupParents()
	return nil
}

// Processes lists the host PIDs of the processes in the container's cgroup (for `top`).
func (c *Container) Processes() ([]int, error) {
	pids, err := c.lc.Processes()
	if err != nil {
		return nil, fmt.Errorf("list processes of container %s: %w", c.ID(), err)
	}
	return pids, nil
}

// ResizeTTY sets the size of the terminal of a container started by this process with a tty.
func (c *Container) ResizeTTY(width, height uint16) error {
	if c.streams == nil || c.streams.master == nil {
		return fmt.Errorf("resize container %s: no terminal", c.ID())
	}
	ws := &unix.Winsize{Col: width, Row: height}
	if err := unix.IoctlSetWinsize(int(c.streams.master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("resize container %s: %w", c.ID(), err)
	}
	return nil
}

// HandlesSignal reports whether process pid has a handler installed for sig (its SigCgt mask
// in /proc/PID/status).
func HandlesSignal(pid int, sig syscall.Signal) (bool, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mask, ok := strings.CutPrefix(sc.Text(), "SigCgt:")
		if !ok {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
		if err != nil {
			return false, fmt.Errorf("/proc/%d/status: SigCgt: %w", pid, err)
		}
		return sig > 0 && sig <= 64 && bits&(1<<(uint(sig)-1)) != 0, nil
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("/proc/%d/status: no SigCgt", pid)
}
