package docker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// demux splits the engine's multiplexed stream (logs and attach of a container without a TTY)
// into stdout and stderr, one Write per frame, as stdcopy.StdCopy does.
//
// stdcopy shifts the rest of its 32 KiB buffer down after every frame; a log line is a frame
// of a few dozen bytes, so 200 000 lines cost gigabytes of memmove — a third of attached up's
// CPU on a chatty stack. Reading frames through a bufio.Reader copies each byte once.
func demux(stdout, stderr io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var header [8]byte // stream, 3 zero bytes, big-endian payload size
	payload := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(br, header[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		size := int(binary.BigEndian.Uint32(header[4:]))
		if cap(payload) < size {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		var w io.Writer
		switch header[0] {
		case 0, 1: // stdin (written as stdout by the engine), stdout
			w = stdout
		case 2:
			w = stderr
		case 3: // the engine's own error, ending the stream
			return fmt.Errorf("error from daemon: %s", payload)
		default:
			return fmt.Errorf("unrecognised stream %d in the engine's output", header[0])
		}
		if _, err := w.Write(payload); err != nil {
			return err
		}
	}
}
