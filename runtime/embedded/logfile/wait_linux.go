package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// waiter sleeps until the log's folder changes (inotify) or a timeout passes.
type waiter struct {
	f *os.File // the inotify instance; nil: plain sleeps
}

func newWaiter(path string) *waiter {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return &waiter{}
	}
	const mask = syscall.IN_MODIFY | syscall.IN_CREATE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM |
		syscall.IN_DELETE | syscall.IN_CLOSE_WRITE
	if _, err := syscall.InotifyAddWatch(fd, filepath.Dir(path), mask); err != nil {
		syscall.Close(fd)
		return &waiter{}
	}
	// A non-blocking descriptor gives a File whose reads wait in the runtime's poller.
	f := os.NewFile(uintptr(fd), "inotify")
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return &waiter{}
	}
	return &waiter{f: f}
}

// wait returns after an event in the folder or after d.
func (w *waiter) wait(d time.Duration) {
	if w.f == nil {
		time.Sleep(d)
		return
	}
	if err := w.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		time.Sleep(d)
		return
	}
	// The events themselves do not matter: the caller looks again.
	var events [4096]byte
	if _, err := w.f.Read(events[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		time.Sleep(d)
	}
}

func (w *waiter) close() {
	if w.f != nil {
		w.f.Close()
	}
}
