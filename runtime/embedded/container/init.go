package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"syscall"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's cgo constructor joins the namespaces before the Go runtime starts; without it
	// a container start fails with "can't get final child's PID from pipe: EOF".
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"golang.org/x/sys/unix"
)

// initPath is where Config.Init mounts the comp binary inside a container; Init recognises
// the minimal init by this base name.
const (
	initPath = "/sbin/comp-init"
	initName = "comp-init"
)

// init keeps the main goroutine on the main thread for the life of the process. libcontainer
// runs some goroutines locked to a thread that it moves into a container's mount namespace
// and never unlocks, so that Go retires the thread; but Go cannot retire the main thread, and
// if one of them ran there, the thread group leader would be left in the container's mount
// namespace: /proc/self/mountinfo (which libcontainer's cgroup code reads) would then show the
// container's mounts instead of ours. With the main thread taken, that cannot happen.
func init() {
	goruntime.LockOSThread()
}

// Init must be called at the very start of main, before flags are parsed. When the process is
// a container's init re-exec (os.Args[1] == "init" and libcontainer's _LIBCONTAINER_INITPIPE
// is set), it sets the container up and execs the user's command: it never returns. When the
// binary runs as comp's minimal init inside a container (Config.Init), it runs that and exits.
// Otherwise it returns at once.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init() // never returns
	}
	if filepath.Base(os.Args[0]) == initName {
		os.Exit(minimalInit(os.Args[1:]))
	}
}

// minimalInit is PID 1 of a container started with Config.Init, as Docker's tini: it starts
// `-- ARGS…` as its child in its own process group (the terminal's foreground group when
// stdin is a terminal), forwards every signal it receives to that child, reaps every zombie,
// and exits with the child's exit code (128+n when a signal killed it).
func minimalInit(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "comp-init: usage: comp-init -- COMMAND [ARG...]")
		return 2
	}
	// Catch every signal before the child exists, so none is lost.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)

	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "comp-init: exec %s: %v\n", args[0], err)
		if errors.Is(err, os.ErrPermission) {
			return 126
		}
		return 127
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		attr.Foreground = true
		attr.Ctty = 0
	}
	proc, err := os.StartProcess(path, args, &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   attr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "comp-init: exec %s: %v\n", args[0], err)
		if errors.Is(err, os.ErrPermission) {
			return 126
		}
		return 127
	}
	child := proc.Pid

	for sig := range sigs {
		s, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		switch s {
		case syscall.SIGURG: // the Go runtime's preemption signal
			continue
		case syscall.SIGCHLD:
			if code, exited := reap(child); exited {
				return code
			}
		default:
			_ = syscall.Kill(child, s)
		}
	}
	return 0 // unreachable: sigs is never closed
}

// reap collects every exited child; it reports the exit code of child once child has exited.
func reap(child int) (code int, exited bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return code, exited
		}
		if pid == child {
			code, exited = waitStatusCode(ws), true
		}
	}
}

// waitStatusCode turns a wait status into a shell-style exit code: 128+n for signal n.
func waitStatusCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
