package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/comp-dev/comp/runtime"
)

// classify maps an Engine API error onto the runtime error classes, keeping the engine's
// message and chain. Errors it cannot place, and context errors, are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := err.Error()
	switch {
	case client.IsErrConnectionFailed(err):
		return runtime.Classify(runtime.ErrUnavailable, err)
	case cerrdefs.IsNotFound(err):
		return runtime.Classify(runtime.ErrNotFound, err)
	case cerrdefs.IsConflict(err), isConflictMessage(msg):
		return runtime.Classify(runtime.ErrConflict, err)
	case cerrdefs.IsInvalidArgument(err):
		return runtime.Classify(runtime.ErrInvalidArgument, err)
	case cerrdefs.IsUnavailable(err):
		return runtime.Classify(runtime.ErrUnavailable, err)
	case cerrdefs.IsNotImplemented(err):
		return runtime.Classify(runtime.ErrNotImplemented, err)
	}
	return err
}

// conflictMessages are engine messages that mean a conflict although the engine answers them
// with another status (500 for ports in use, 403 for a network with endpoints).
var conflictMessages = []string{
	"port is already allocated",
	"address already in use",
	"has active endpoints",
	"is already in use",
	"volume is in use",
}

func isConflictMessage(msg string) bool {
	for _, m := range conflictMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// pullNotFound are registry messages that mean the image does not exist (or is not visible).
var pullNotFound = []string{
	"pull access denied",
	"manifest unknown",
	"not found",
	"repository does not exist",
	"no such image",
}

// pullUnavailable are messages that mean the registry could not be reached.
var pullUnavailable = []string{
	"connection refused",
	"no such host",
	"i/o timeout",
	"network is unreachable",
	"TLS handshake timeout",
	"server misbehaving",
	"dial tcp",
	"Client.Timeout exceeded",
	"connection reset by peer",
}

// classifyPull classifies an error of a pull, which the engine often reports as a plain
// message in the progress stream or as a 500.
func classifyPull(err error) error {
	if err == nil {
		return nil
	}
	c := classify(err)
	for _, class := range []error{runtime.ErrNotFound, runtime.ErrUnavailable, runtime.ErrInvalidArgument} {
		if errors.Is(c, class) {
			return c
		}
	}
	msg := strings.ToLower(err.Error())
	for _, m := range pullUnavailable {
		if strings.Contains(msg, strings.ToLower(m)) {
			return runtime.Classify(runtime.ErrUnavailable, err)
		}
	}
	for _, m := range pullNotFound {
		if strings.Contains(msg, m) {
			return runtime.Classify(runtime.ErrNotFound, err)
		}
	}
	return c
}

// unreachableError says that the engine cannot be reached and what to do about it; it
// unwraps to the client's error.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	if client.IsErrConnectionFailed(e.err) {
		return fmt.Sprintf("cannot reach Docker Engine at %s: is dockerd running? (set DOCKER_HOST, or use --runtime embedded)", e.host)
	}
	return fmt.Sprintf("cannot reach Docker Engine at %s: %v (set DOCKER_HOST, or use --runtime embedded)", e.host, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

func isNotFound(err error) bool { return errors.Is(err, runtime.ErrNotFound) }
