package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

// Attach connects streams to a created or running container; call it before StartContainer to
// see all output. The returned function waits until the container's output ends (or ctx ends)
// and releases the connection.
func (r *Runtime) Attach(ctx context.Context, id string, streams runtime.AttachStreams) (func() error, error) {
	resp, tty, err := r.attach(ctx, id, container.AttachOptions{
		Stream: true,
		Stdin:  streams.Stdin != nil,
		Stdout: streams.Stdout != nil,
		Stderr: streams.Stderr != nil,
	})
	if err != nil {
		return nil, err
	}
	tty = tty || streams.Tty
	s := startStreams(ctx, resp, tty, streams.Stdin, streams.Stdout, streams.Stderr)
	return func() error {
		if err := s.wait(); err != nil {
			return fmt.Errorf("attach to container %s: %w", id, err)
		}
		return nil
	}, nil
}

// attach connects to the container's streams as opts say, and tells whether it has a TTY
// (its output is then one raw stream rather than a multiplexed one).
func (r *Runtime) attach(ctx context.Context, id string, opts container.AttachOptions) (types.HijackedResponse, bool, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return types.HijackedResponse{}, false, fmt.Errorf("attach to container %s: %w", id, classify(err))
	}
	resp, err := r.cli.ContainerAttach(ctx, id, opts)
	if err != nil {
		return types.HijackedResponse{}, false, fmt.Errorf("attach to container %s: %w", id, classify(err))
	}
	return resp, c.Config != nil && c.Config.Tty, nil
}

// Exec runs a command inside a running container and returns its exit code. With Detach it
// starts the command and returns 0 at once.
func (r *Runtime) Exec(ctx context.Context, id string, spec runtime.ExecSpec) (int, error) {
	created, err := r.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         spec.User,
		Privileged:   spec.Privileged,
		Tty:          spec.Tty,
		AttachStdin:  spec.Stdin != nil && !spec.Detach,
		AttachStdout: spec.Stdout != nil && !spec.Detach,
		AttachStderr: spec.Stderr != nil && !spec.Detach,
		Env:          spec.Env,
		WorkingDir:   spec.WorkingDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, classify(err))
	}
	if spec.Detach {
		if err := r.cli.ContainerExecStart(ctx, created.ID, container.ExecStartOptions{Detach: true, Tty: spec.Tty}); err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", id, classify(err))
		}
		return 0, nil
	}

	resp, err := r.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: spec.Tty})
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, classify(err))
	}
	if err := startStreams(ctx, resp, spec.Tty, spec.Stdin, spec.Stdout, spec.Stderr).wait(); err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}

	// The output ends a moment before the engine records the exit code.
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		ins, err := r.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", id, classify(err))
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// hijackedStreams copies between a hijacked connection and the caller's streams.
type hijackedStreams struct {
	ctx    context.Context
	resp   types.HijackedResponse
	output chan error
	stop   func() bool

	once sync.Once
	err  error
}

// startStreams copies stdin (when not nil) to the connection in the background, closing the
// write side at its end, and the connection's output to stdout and stderr (demultiplexed
// unless tty; nil writers discard). Ending ctx closes the connection.
func startStreams(ctx context.Context, resp types.HijackedResponse, tty bool, stdin io.Reader, stdout, stderr io.Writer) *hijackedStreams {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	s := &hijackedStreams{ctx: ctx, resp: resp, output: make(chan error, 1)}
	s.stop = context.AfterFunc(ctx, resp.Close)

	if stdin != nil {
		go func() {
			_, _ = io.Copy(resp.Conn, stdin)
			_ = resp.CloseWrite()
		}()
	}
	go func() {
		var err error
		if tty {
			_, err = io.Copy(stdout, resp.Reader)
		} else {
			err = demux(stdout, stderr, resp.Reader)
		}
		s.output <- err
	}()
	return s
}

// wait waits for the output to end, then closes the connection. An output cut by the end of
// ctx gives ctx's error. Calling it again returns the same result.
func (s *hijackedStreams) wait() error {
	s.once.Do(func() {
		var err error
		select {
		case err = <-s.output:
		case <-s.ctx.Done():
			err = s.ctx.Err()
		}
		s.stop()
		s.resp.Close()
		switch {
		case err != nil && s.ctx.Err() != nil:
			err = s.ctx.Err()
		case errors.Is(err, net.ErrClosed):
			err = nil
		}
		s.err = err
	})
	return s.err
}
