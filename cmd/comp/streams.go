package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
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
	// NoColor is set by NO_COLOR or --ansi never; --ansi always sets ForceColor.
	NoColor    bool
	ForceColor bool
}

// SystemStreams are the process's own streams.
func SystemStreams() *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:   isatty.IsTerminal(os.Stdin.Fd()),
		OutTTY:  isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY:  isatty.IsTerminal(os.Stderr.Fd()),
		NoColor: noColor,
	}
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
