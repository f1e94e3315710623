package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Hook phases, as the compose keys name them.
const (
	// HookPostStart hooks run right after the container starts; one that fails fails the start.
	HookPostStart = "post_start"
	// HookPreStop hooks run before the container is stopped on request; one that fails fails
	// the stop, and the container keeps running, as Docker Compose does.
	HookPreStop = "pre_stop"
)

// Hook is a lifecycle hook (a service's post_start or pre_stop entry): a command run in the
// container as an exec. User, WorkingDir and Env default to the container's own; Env adds to
// the container's environment.
type Hook struct {
	Command    []string
	User       string
	Privileged bool
	WorkingDir string
	Env        []string // KEY=VALUE
}

// maxHookOutput bounds how much of a failed hook's output its error carries: the end, which
// is where the reason usually is.
const maxHookOutput = 4 << 10

// RunHooks runs hooks in order with exec (a backend's exec in the container), each with its
// output captured, and stops at the first that fails. The error names the phase, the hook's
// command and its exit status, and ends with what it printed; an exec that could not run is
// returned as exec classified it (ErrConflict when the container no longer runs), so that a
// caller can tell the two.
func RunHooks(ctx context.Context, phase string, hooks []Hook, exec func(context.Context, ExecSpec) (int, error)) error {
	for i, h := range hooks {
		out := &tailBuffer{max: maxHookOutput}
		code, err := exec(ctx, ExecSpec{Cmd: h.Command, Env: h.Env, User: h.User, WorkingDir: h.WorkingDir,
			Privileged: h.Privileged, Stdout: out, Stderr: out})
		what := fmt.Sprintf("%s hook %d (%s)", phase, i+1, strings.Join(h.Command, " "))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if code != 0 {
			msg := fmt.Sprintf("%s exited with status %d", what, code)
			if s := strings.TrimSpace(out.String()); s != "" {
				msg += ": " + s
			}
			return errors.New(msg)
		}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it; the two streams of an exec write to it
// from two goroutines.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + t.buf.String()
	}
	return t.buf.String()
}
