package fifo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenMakesItOnceAndDoesNotWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	f, err := Open(path) // no reader or writer elsewhere: must not block
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is not a FIFO: %v %v", path, fi, err)
	}
	g, err := Open(path) // already there
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}
}
