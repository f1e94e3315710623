package image

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// FillOwned copies r into f, a regular file just created and open for writing, then gives it
// uid:gid and the permission bits mode (including setuid, setgid and sticky), and closes it —
// also when it fails. chown comes before chmod because chown clears the setuid and setgid
// bits. buf is the copy buffer, reused across files by the caller (nil allocates one). The
// unpacker writes a layer's files with it, and so does the builder's copier.
func FillOwned(f *os.File, r io.Reader, buf []byte, uid, gid int, mode uint32) error {
	if _, err := io.CopyBuffer(f, r, buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Chown(uid, gid); err != nil {
		f.Close()
		return err
	}
	if err := unix.Fchmod(int(f.Fd()), mode); err != nil {
		f.Close()
		return &os.PathError{Op: "chmod", Path: f.Name(), Err: err}
	}
	return f.Close()
}
