package supervisor

import (
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime/embedded/fifo"
)

// openStdin opens (making it first) the container's stdin FIFO for reading and writing: the
// container reads from it, and it never sees end of file.
func openStdin(dir string) (*os.File, error) {
	return fifo.Open(filepath.Join(dir, "stdin"))
}

// openStdinOnce opens (making it first) the container's stdin FIFO for reading only, so that
// the container reads end of file once every writer is gone: the attached client opened its
// end before the start (Runtime.Attach) and closes it at the end of its input. With no client,
// the container reads end of file at once, as Docker's closed stdin.
func openStdinOnce(dir string) (*os.File, error) {
	path := filepath.Join(dir, "stdin")
	if err := fifo.Make(path); err != nil {
		return nil, err
	}
	// Non-blocking, or open would wait for a writer; the container then reads blocking.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openTTYClient opens the write end of the container's ttyout FIFO when an attached client
// holds it open for reading, else returns nil. Its writes wait for the client at most
// ttyClientTimeout, then fail, and the tee stops: a client that stopped reading must not stop
// the container's output.
func openTTYClient(dir string) *ttyClient {
	fd, err := unix.Open(filepath.Join(dir, "ttyout"), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // ENOENT or ENXIO: nobody attached
	}
	// A non-blocking descriptor makes a File whose writes wait in the runtime's poller, where
	// a deadline applies.
	return &ttyClient{f: os.NewFile(uintptr(fd), "ttyout")}
}

// ttyClientTimeout is how long a write to an attached client may wait for it to read.
const ttyClientTimeout = 10 * time.Second

// ttyClient is the write end of an attached client's FIFO. Once a write fails it closes and
// swallows the rest, so the tee into the log goes on.
type ttyClient struct {
	f *os.File
}

// Close closes the FIFO; a nil client has nothing to close.
func (c *ttyClient) Close() {
	if c != nil && c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

func (c *ttyClient) Write(p []byte) (int, error) {
	if c.f == nil {
		return len(p), nil
	}
	_ = c.f.SetWriteDeadline(time.Now().Add(ttyClientTimeout))
	if _, err := c.f.Write(p); err != nil {
		c.f.Close()
		c.f = nil
	}
	return len(p), nil
}
