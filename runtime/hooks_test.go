package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunHooksStopsAtTheFirstFailureWithItsOutput(t *testing.T) {
	var ran [][]string
	exec := func(_ context.Context, e ExecSpec) (int, error) {
		ran = append(ran, e.Cmd)
		if e.Cmd[0] == "fail" {
			fmt.Fprintln(e.Stdout, "some output")
			fmt.Fprintln(e.Stderr, "the reason")
			return 3, nil
		}
		return 0, nil
	}
	hooks := []Hook{{Command: []string{"ok"}}, {Command: []string{"fail", "now"}}, {Command: []string{"never"}}}
	err := RunHooks(context.Background(), HookPostStart, hooks, exec)
	want := "post_start hook 2 (fail now) exited with status 3: some output\nthe reason"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if len(ran) != 2 {
		t.Errorf("ran %q, want the hooks up to the failing one", ran)
	}
}

func TestRunHooksPassesTheHookAndKeepsTheExecErrorClass(t *testing.T) {
	var got ExecSpec
	exec := func(_ context.Context, e ExecSpec) (int, error) {
		got = e
		return -1, Classify(ErrConflict, errors.New("container web-1 is not running"))
	}
	h := Hook{Command: []string{"x"}, User: "1000", Privileged: true, WorkingDir: "/w", Env: []string{"A=1"}}
	err := RunHooks(context.Background(), HookPreStop, []Hook{h}, exec)
	if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "pre_stop hook 1 (x): ") {
		t.Errorf("error = %v, want the exec's conflict named after the hook", err)
	}
	if got.User != "1000" || !got.Privileged || got.WorkingDir != "/w" || got.Env[0] != "A=1" || got.Stdout == nil {
		t.Errorf("exec spec = %+v", got)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 4}
	b.Write([]byte("abcdef"))
	b.Write([]byte("gh"))
	if got := b.String(); got != "…efgh" {
		t.Errorf("tail = %q", got)
	}
}
