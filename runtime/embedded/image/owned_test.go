package image

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The setuid bit survives the chown (which clears it when it comes second), and the content,
// owner and mode are the ones asked for.
func TestFillOwnedKeepsSetuidAfterChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := FillOwned(f, strings.NewReader("hello"), nil, 1234, 5678, 0o4755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	if got := st.Mode & 0o7777; got != 0o4755 {
		t.Errorf("mode %o, want 4755", got)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Errorf("content %q", b)
	}
}
