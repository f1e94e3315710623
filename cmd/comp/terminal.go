package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/comp-dev/comp/runtime"
)

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

// followTerminalSize keeps the terminal of container id the size of comp's own input
// terminal, when there is one: now, then at every SIGWINCH, until the returned function is
// called.
func followTerminalSize(ctx context.Context, rt runtime.Runtime, id string, streams *IOStreams) (stop func()) {
	if _, _, ok := streams.TerminalSize(); !ok {
		return func() {}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			if w, h, ok := streams.TerminalSize(); ok {
				_ = rt.ResizeTerminal(ctx, id, uint16(w), uint16(h))
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
