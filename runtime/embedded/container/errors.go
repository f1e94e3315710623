package container

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrCommandNotFound: the command does not exist in the container (Docker exits 127).
	ErrCommandNotFound = errors.New("command not found")
	// ErrCommandNotExecutable: the command exists but cannot be executed (Docker exits 126).
	ErrCommandNotExecutable = errors.New("command not executable")
	// ErrNotStatic: Config.Init needs a statically linked comp binary (see the package doc).
	ErrNotStatic = errors.New("the comp binary is not statically linked")
)

// CommandError is the error of a container or exec process whose command could not be run.
// It matches ErrCommandNotFound or ErrCommandNotExecutable with errors.Is.
type CommandError struct {
	Command string
	// ExitCode is the exit code Docker reports for it: 127 or 126.
	ExitCode int
	reason   string
	class    error
	err      error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("exec: %q: %s", e.Command, e.reason)
}

func (e *CommandError) Unwrap() []error { return []error{e.class, e.err} }

// ExitCode returns the exit code that err stands for: 127 or 126 for a CommandError.
func ExitCode(err error) (int, bool) {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode, true
	}
	return 0, false
}

// commandError recognises the error that libcontainer's init sends back when exec.LookPath of
// the command fails (`exec: "NAME": executable file not found in $PATH`, or `exec: "/x": stat
// /x: no such file or directory`): the text crossed a process boundary, so matching it is the
// only way. Any other error is returned unchanged.
func commandError(cmd string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	marker := fmt.Sprintf("exec: %q: ", cmd)
	i := strings.Index(msg, marker)
	if i < 0 {
		return err
	}
	reason, _, _ := strings.Cut(msg[i+len(marker):], "\n")
	switch {
	case strings.Contains(reason, "executable file not found"),
		strings.Contains(reason, "no such file or directory"),
		strings.Contains(reason, "not a directory"):
		return &CommandError{Command: cmd, ExitCode: 127, reason: reason, class: ErrCommandNotFound, err: err}
	case strings.Contains(reason, "permission denied"),
		strings.Contains(reason, "is a directory"):
		return &CommandError{Command: cmd, ExitCode: 126, reason: reason, class: ErrCommandNotExecutable, err: err}
	}
	return err
}
