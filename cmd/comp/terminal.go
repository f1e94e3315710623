package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/comp-dev/comp/runtime"
)

// rawTerminal puts the terminal on in into raw mode, so that keys (Ctrl-C included) reach the
// container's TTY untouched, and returns the function that restores it. When in is not a
// terminal it does nothing.
func rawTerminal(in io.Reader) (restore func(), err error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
	}
	return func() { _ = term.Restore(int(f.Fd()), state) }, nil
}

// useTTY decides whether a container command gets a TTY, as Compose does: by default when both
// stdin and stdout are terminals; never with -T.
func (s *IOStreams) useTTY(noTTY bool) bool {
	return !noTTY && s.InTTY && s.OutTTY
}

// resolveEnv turns -e values into KEY=VALUE: a bare KEY takes its value from comp's own
// environment and is left out when unset there, as Compose does.
func resolveEnv(values []string) []string {
	var out []string
	for _, v := range values {
		if strings.Contains(v, "=") {
			out = append(out, v)
			continue
		}
		if val, ok := os.LookupEnv(v); ok {
			out = append(out, v+"="+val)
		}
	}
	return out
}

// followTerminalSize keeps the terminal of container id the size of comp's own (in), when the
// runtime can resize it and in is a terminal: now, then at every SIGWINCH, until the returned
// function is called.
func followTerminalSize(ctx context.Context, rt runtime.Runtime, id string, in io.Reader) (stop func()) {
	resizer, ok := rt.(runtime.TerminalResizer)
	f, isFile := in.(*os.File)
	if !ok || !isFile || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				_ = resizer.ResizeTerminal(ctx, id, uint16(w), uint16(h))
			}
			select {
			case <-done:
				return
			case <-winch:
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
	}
}
