package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/core"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// SubcommandName is the hidden command that runs a supervisor: `comp __supervise PROJECT`, or
// `comp-core __supervise PROJECT` when comp carries the lean core.
const SubcommandName = state.SuperviseCommand

// Client talks to one project's supervisor, starting it when none runs.
type Client struct {
	layout  state.Layout
	project string
}

// NewClient returns a client for project's supervisor.
func NewClient(layout state.Layout, project string) *Client {
	return &Client{layout: layout, project: project}
}

// dial connects to the supervisor, starting a detached one when nobody answers.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	sock := c.layout.Socket(c.project)
	var d net.Dialer
	if _, ok := verified.Load(sock); ok {
		if conn, err := d.DialContext(ctx, "unix", sock); err == nil {
			return conn, nil
		}
	}
	// One goroutine of this comp starts (or replaces, see verify) the supervisor and waits
	// for it to answer; the others (an up creates many containers at once) wait for that,
	// then connect.
	mu, _ := spawning.LoadOrStore(sock, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	conn, err := d.DialContext(ctx, "unix", sock)
	if err == nil {
		ok, err := c.verify(ctx, conn)
		switch {
		case err != nil:
			conn.Close()
			return nil, err
		case ok:
			return conn, nil
		}
	}
	if err := c.spawn(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		conn, err = d.DialContext(ctx, "unix", sock)
		if err == nil {
			// Most often the supervisor just started; a racing comp of another build may
			// have started its own first, which is replaced as above.
			ok, verr := c.verify(ctx, conn)
			switch {
			case verr != nil:
				conn.Close()
				return nil, verr
			case ok:
				return conn, nil
			}
			if err := c.spawn(); err != nil {
				return nil, err
			}
		}
		if time.Now().After(deadline) {
			return nil, runtime.Classify(runtime.ErrUnavailable,
				fmt.Errorf("the supervisor of project %s did not answer on %s: %v (see %s)", c.project, sock, err, c.logPath()))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Client) logPath() string {
	return c.layout.SupervisorLock(c.project) + ".log"
}

// spawning holds a mutex per supervisor socket: see dial.
var spawning sync.Map

// spawn starts a supervisor in its own session, detached from the terminal, so it outlives
// this command. A second supervisor started by a racing command exits at once: the first
// holds the supervisor lock.
func (c *Client) spawn() error {
	// The lean core when comp carries one (see package core), else comp itself.
	exe, err := core.Executable(c.layout.Bin())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.layout.Projects(), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, SubcommandName, c.project)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervisor of project %s: %w", c.project, err)
	}
	// Reap it if it exits while we still run (a racing duplicate); never wait otherwise.
	go cmd.Wait()
	return nil
}

// Ensure makes sure the supervisor runs, starting it (which re-adopts the project's
// containers) when nobody answers on its socket.
func (c *Client) Ensure(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Call sends req and returns the response's ID.
func (c *Client) Call(ctx context.Context, req Request) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return "", fmt.Errorf("supervisor of %s: send %s: %w", c.project, req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("supervisor of %s: %s: %w", c.project, req.Op, err))
	}
	return resp.ID, resp.err()
}

// Events streams the project's container events until ctx ends. It returns once the
// supervisor has acknowledged the subscription, so that no event after the call is missed:
// a follower lists the containers after subscribing, and a container that dies between the
// two would otherwise never be seen to die.
func (c *Client) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	events := make(chan runtime.Event)
	errs := make(chan error, 1)
	fail := func(err error) (<-chan runtime.Event, <-chan error) {
		errs <- err
		close(events)
		close(errs)
		return events, errs
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return fail(err)
	}
	if err := json.NewEncoder(conn).Encode(Request{Op: OpEvents}); err != nil {
		conn.Close()
		return fail(err)
	}
	br := bufio.NewReader(conn)
	dec := json.NewDecoder(br)
	var first []runtime.Event
	_ = conn.SetReadDeadline(time.Now().Add(subscribeTimeout))
	var ev runtime.Event
	switch err := dec.Decode(&ev); {
	case err == nil && ev.Action == eventsSubscribed:
	case err == nil:
		first = append(first, ev) // a supervisor of an older comp: no acknowledgment
	case errors.Is(err, os.ErrDeadlineExceeded):
		dec = json.NewDecoder(br) // likewise, and no event yet; the failed decoder is spent
	default:
		conn.Close()
		return fail(runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("events of project %s: %w", c.project, err)))
	}
	_ = conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(events)
		defer close(errs)
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		for {
			var ev runtime.Event // fresh: decoding into a used one would merge its Labels
			if len(first) > 0 {
				ev, first = first[0], nil
			} else if err := dec.Decode(&ev); err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					errs <- runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("events of project %s: %w", c.project, err))
				}
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, errs
}

// subscribeTimeout bounds the wait for the acknowledgment of an events subscription, which a
// supervisor of an older comp does not send.
var subscribeTimeout = 2 * time.Second
