package supervisor

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// OpVersion asks a supervisor for its ProtocolVersion (in Response.ID).
const OpVersion = "version"

// ProtocolVersion fingerprints what a supervisor understands: the names, types and tags of
// every field of Request and Response, runtime.ContainerSpec among them. A supervisor started
// by another comp build that speaks another protocol would take a spec with keys it does not
// know (secrets, hooks, devices…) and silently drop them, since JSON ignores unknown fields:
// a client that finds one replaces it (see verify) before it sends anything.
var ProtocolVersion = protocolVersion(reflect.TypeOf(Request{}), reflect.TypeOf(Response{}))

func protocolVersion(types ...reflect.Type) string {
	h := sha256.New()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		fmt.Fprintf(h, "%s:%s;", t.Kind(), t.String())
		if seen[t] {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				fmt.Fprintf(h, "{%s %q}", f.Name, f.Tag)
				walk(f.Type)
			}
		}
	}
	for _, t := range types {
		walk(t)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// verified holds the sockets whose supervisor this process has found to speak its protocol.
var verified sync.Map

// verify makes sure the supervisor answering on conn's socket speaks ProtocolVersion, once per
// process and socket. One that does not (a comp upgrade left it running; an older one answers
// OpVersion with "unknown operation") is stopped with SIGTERM, which leaves its containers
// running, and verify waits for it to exit: the caller then starts a new supervisor, which
// re-adopts them. It reports whether conn is still good to use.
func (c *Client) verify(ctx context.Context, conn net.Conn) (bool, error) {
	sock := c.layout.Socket(c.project)
	if _, ok := verified.Load(sock); ok {
		return true, nil
	}
	version, err := c.askVersion(ctx, sock)
	if err == nil && version == ProtocolVersion {
		verified.Store(sock, true)
		return true, nil
	}
	var known *unknownOpError
	if err != nil && !errors.As(err, &known) {
		return false, err
	}
	pid, err := peerPID(conn)
	if err != nil {
		return false, fmt.Errorf("the supervisor of project %s speaks another protocol and cannot be replaced: %w", c.project, err)
	}
	conn.Close()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("stop the outdated supervisor of project %s (pid %d): %w", c.project, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return false, runtime.Classify(runtime.ErrUnavailable, fmt.Errorf(
				"the outdated supervisor of project %s (pid %d) did not exit within 10s of SIGTERM: stop it, and run the command again", c.project, pid))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return false, nil
}

// unknownOpError is a supervisor's answer to an operation it does not know.
type unknownOpError struct{ msg string }

func (e *unknownOpError) Error() string { return e.msg }

// askVersion sends OpVersion on a connection of its own.
func (c *Client) askVersion(ctx context.Context, sock string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := json.NewEncoder(conn).Encode(Request{Op: OpVersion}); err != nil {
		return "", fmt.Errorf("supervisor of %s: send %s: %w", c.project, OpVersion, err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return "", fmt.Errorf("supervisor of %s: %s: %w", c.project, OpVersion, err)
	}
	if resp.Error != "" && strings.Contains(resp.Error, "unknown operation") {
		return "", &unknownOpError{resp.Error}
	}
	return resp.ID, resp.err()
}

// peerPID is the process on the other end of a unix socket connection.
func peerPID(conn net.Conn) (int, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int(cred.Pid), nil
}
