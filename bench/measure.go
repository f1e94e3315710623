package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// invocation is one command line of a contender on a stack's project.
type invocation struct {
	contender contender
	dir       string // the stack's folder, holding compose.yaml
	project   string
	args      []string
	// env is added after the contender's (REGISTRY).
	env []string
}

// timed runs inv and returns its wall-clock time, from the start of the process to its exit.
// Its standard output goes to /dev/null (the attached up's and the logs' lines included); its
// standard error is kept for the error message. It is stopped (SIGTERM, then SIGKILL) when
// timeout passes or ctx ends.
func timed(ctx context.Context, inv invocation, timeout time.Duration) (time.Duration, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer devNull.Close()
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := inv.contender.argv("compose.yaml", inv.project, inv.args)
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = inv.dir
	cmd.Env = append(append(os.Environ(), inv.contender.env...), inv.env...)
	cmd.Stdout = devNull
	stderr := &tail{max: 16 << 10}
	cmd.Stderr = stderr
	// A process group of its own: a Ctrl-C at the terminal reaches the harness only, which
	// stops the command and cleans up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second

	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	switch {
	case err == nil:
		return elapsed, nil
	case ctx.Err() != nil:
		return elapsed, errors.New("interrupted")
	case runCtx.Err() != nil:
		return elapsed, fmt.Errorf("timed out after %s", timeout)
	}
	if msg := lastLine(stderr.String()); msg != "" {
		return elapsed, errors.New(msg)
	}
	return elapsed, err
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

// lastLine is the last non-blank line of out, which is where comp and Docker Compose print
// their error, without comp's "Error: " prefix.
func lastLine(out string) string {
	lines := nonBlankLines(strings.ReplaceAll(out, "\r", "\n"))
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimPrefix(lines[len(lines)-1], "Error: ")
}

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
