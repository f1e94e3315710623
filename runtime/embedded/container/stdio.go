package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// stdio connects a Process's streams to a libcontainer process. An *os.File is handed over as
// it is; any other stream goes through a pipe served by a goroutine, so libcontainer (and
// exec.Cmd under it) never waits on a copy of ours. With a tty, the terminal's master side
// arrives over a socket once the process has started.
type stdio struct {
	// childEnds are closed in this process once the child holds them.
	childEnds []*os.File
	// stdinW is the write end of the stdin pipe, closed at stdin EOF or when the process ends.
	stdinW *os.File
	// outputs are the output pipes to copy from once the process has started, and output
	// counts the copies to wait for before the process counts as ended.
	outputs []outputCopy
	output  sync.WaitGroup

	tty        bool
	consoleSrv *os.File // our end of the console socket
	master     *os.File // the terminal's master side
	in         io.Reader
	out        io.Writer
}

// attach sets p's streams on lp. Call start after lp has started and cleanup if it failed.
func attach(p *Process, lp *libcontainer.Process) (*stdio, error) {
	s := &stdio{tty: p.Tty}
	if p.Tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		s.consoleSrv = os.NewFile(uintptr(fds[0]), "console-socket")
		child := os.NewFile(uintptr(fds[1]), "console-socket-child")
		s.childEnds = append(s.childEnds, child)
		lp.ConsoleSocket = child
		s.in, s.out = p.Stdin, p.Stdout
		return s, nil
	}

	if p.Stdin != nil {
		if f, ok := p.Stdin.(*os.File); ok {
			lp.Stdin = f
		} else {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			s.childEnds = append(s.childEnds, r)
			s.stdinW = w
			s.in = p.Stdin
			lp.Stdin = r
		}
	}
	var err error
	if lp.Stdout, err = s.outputFile(p.Stdout); err != nil {
		s.cleanup()
		return nil, err
	}
	if lp.Stderr, err = s.outputFile(p.Stderr); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// outputCopy is the read end of an output pipe and its destination.
type outputCopy struct {
	r *os.File
	w io.Writer
}

// outputFile returns the file to give the process for the output stream w.
func (s *stdio) outputFile(w io.Writer) (io.Writer, error) {
	if w == nil {
		return nil, nil
	}
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.childEnds = append(s.childEnds, pw)
	s.outputs = append(s.outputs, outputCopy{r: r, w: w})
	return pw, nil
}

// start runs the copies once the process has started; with a tty it first receives the
// terminal from the console socket.
func (s *stdio) start() error {
	for _, f := range s.childEnds {
		_ = f.Close()
	}
	s.childEnds = nil
	if s.tty {
		master, err := recvFile(s.consoleSrv)
		_ = s.consoleSrv.Close()
		s.consoleSrv = nil
		if err != nil {
			return fmt.Errorf("receive the terminal: %w", err)
		}
		s.master = master
		if s.out != nil {
			s.output.Go(func() {
				_, _ = io.Copy(s.out, master) // ends with EIO once every slave is closed
			})
		}
		if s.in != nil {
			go func() { _, _ = io.Copy(master, s.in) }()
		}
		return nil
	}
	for _, oc := range s.outputs {
		s.output.Go(func() {
			_, _ = io.Copy(oc.w, oc.r)
			_ = oc.r.Close()
		})
	}
	s.outputs = nil
	if s.stdinW != nil {
		w := s.stdinW
		go func() {
			_, _ = io.Copy(w, s.in)
			_ = w.Close()
		}()
	}
	return nil
}

// wait waits for the output copies to end, then closes what is left; call it once the process
// has exited.
func (s *stdio) wait() {
	s.output.Wait()
	if s.master != nil {
		_ = s.master.Close()
	}
	// The stdin copy may still be blocked reading its source; closing the pipe ends it at its
	// next write.
	if s.stdinW != nil {
		_ = s.stdinW.Close()
	}
}

// cleanup releases everything after a failed start.
func (s *stdio) cleanup() {
	for _, f := range s.childEnds {
		_ = f.Close()
	}
	s.childEnds = nil
	if s.consoleSrv != nil {
		_ = s.consoleSrv.Close()
	}
	if s.stdinW != nil {
		_ = s.stdinW.Close()
	}
	for _, oc := range s.outputs {
		_ = oc.r.Close()
	}
	s.outputs = nil
}

// recvFile receives one file descriptor sent with SCM_RIGHTS over the unix socket.
func recvFile(socket *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(socket.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		for _, fd := range fds[1:] {
			_ = unix.Close(fd)
		}
		if len(fds) > 0 {
			return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
		}
	}
	return nil, errors.New("no file descriptor received")
}
