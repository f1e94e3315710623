package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"
)

// IOStreams are the command's standard streams and what they are connected to. It decides TTY
// and color once; nothing else looks at the terminal or NO_COLOR.
type IOStreams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer

	InTTY  bool
	OutTTY bool
	ErrTTY bool
	// terminal is In when it is a terminal: the one comp sets to raw mode and measures.
	terminal *os.File
	// NoColor is set by NO_COLOR or --ansi never; --ansi always sets ForceColor.
	NoColor    bool
	ForceColor bool
}

// SystemStreams are the process's own streams.
func SystemStreams() *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	s := &IOStreams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:   isatty.IsTerminal(os.Stdin.Fd()),
		OutTTY:  isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY:  isatty.IsTerminal(os.Stderr.Fd()),
		NoColor: noColor,
	}
	if s.InTTY {
		s.terminal = os.Stdin
	}
	return s
}

// RawInput puts the input terminal into raw mode, so that keys (Ctrl-C included) reach a
// container's terminal untouched, and returns the function that restores it. When the input
// is no terminal it does nothing.
func (s *IOStreams) RawInput() (restore func(), err error) {
	if s.terminal == nil {
		return func() {}, nil
	}
	fd := int(s.terminal.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
	}
	return func() { _ = term.Restore(fd, state) }, nil
}

// TerminalSize is the size of the input terminal; ok is false when the input is none.
func (s *IOStreams) TerminalSize() (width, height int, ok bool) {
	if s.terminal == nil {
		return 0, 0, false
	}
	w, h, err := term.GetSize(int(s.terminal.Fd()))
	return w, h, err == nil
}

// ColorOut says whether output on Out is colored.
func (s *IOStreams) ColorOut() bool {
	if s.ForceColor {
		return true
	}
	return s.OutTTY && !s.NoColor
}

// ColorErr says whether output on Err is colored.
func (s *IOStreams) ColorErr() bool {
	if s.ForceColor {
		return true
	}
	return s.ErrTTY && !s.NoColor
}
