package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Terminal is a comp command running with a pseudo-terminal as its standard input, output and
// error (and controlling terminal), as when a user types it: `run` then gives the container a
// terminal of its own.
type Terminal struct {
	t      testing.TB
	cmd    *exec.Cmd
	master *os.File
	ctx    context.Context // ends after CallTimeout, killing comp
	cancel context.CancelFunc

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // closed and replaced at each read
	read    chan struct{} // closed once the master reads no more
}

// Terminal rows and columns of the pseudo-terminal StartTerminal gives comp.
const (
	TerminalRows = 30
	TerminalCols = 100
)

// StartTerminal runs `comp -p NAME --runtime RUNTIME args…` on a new pseudo-terminal of
// TerminalRows×TerminalCols. It is killed when the test ends unless Wait saw it exit.
func (p *Project) StartTerminal(args ...string) *Terminal {
	p.t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		p.t.Fatalf("pseudo-terminal: %v", err)
	}
	defer slave.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ,
		&unix.Winsize{Row: TerminalRows, Col: TerminalCols}); err != nil {
		p.t.Fatalf("terminal size: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	full := append([]string{"-p", p.Name, "--runtime", p.Runtime}, args...)
	cmd := exec.CommandContext(ctx, binary, full...)
	cmd.Dir = p.Dir
	cmd.Env = append(p.env(), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		cancel()
		master.Close()
		p.t.Fatalf("start comp %s: %v", strings.Join(full, " "), err)
	}
	term := &Terminal{t: p.t, cmd: cmd, master: master, ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), read: make(chan struct{})}
	go term.readAll()
	p.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		master.Close()
	})
	return term
}

// openPTY opens a new pseudo-terminal: its master side, and its slave side.
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

func (term *Terminal) readAll() {
	defer close(term.read)
	buf := make([]byte, 4096)
	for {
		n, err := term.master.Read(buf) // EIO once comp and its children closed the slave
		term.mu.Lock()
		term.out.Write(buf[:n])
		close(term.changed)
		term.changed = make(chan struct{})
		term.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Output is everything the terminal showed so far.
func (term *Terminal) Output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// Expect waits until the terminal has shown s, failing the test after timeout.
func (term *Terminal) Expect(s string, timeout time.Duration) {
	term.t.Helper()
	deadline := time.After(timeout)
	for {
		term.mu.Lock()
		shown, changed := strings.Contains(term.out.String(), s), term.changed
		term.mu.Unlock()
		if shown {
			return
		}
		select {
		case <-changed:
		case <-term.read:
			if !strings.Contains(term.Output(), s) {
				term.t.Fatalf("the terminal closed without showing %q:\n%s", s, term.Output())
			}
			return
		case <-deadline:
			term.t.Fatalf("the terminal did not show %q within %v:\n%s", s, timeout, term.Output())
		}
	}
}

// Type sends s to comp as keys typed on the terminal.
func (term *Terminal) Type(s string) {
	term.t.Helper()
	if _, err := term.master.WriteString(s); err != nil {
		term.t.Fatalf("type %q: %v", s, err)
	}
}

// Wait waits for comp to exit and returns its exit code, and everything the terminal showed.
func (term *Terminal) Wait() Result {
	term.t.Helper()
	err := term.cmd.Wait()
	select {
	case <-term.read:
	case <-time.After(5 * time.Second): // a leftover process holding the slave: report anyway
	}
	r := Result{Args: term.cmd.Args[1:], Stdout: term.Output(), ExitCode: -1}
	r.setExit(err, term.ctx.Err() != nil)
	term.t.Log(r.String())
	return r
}
