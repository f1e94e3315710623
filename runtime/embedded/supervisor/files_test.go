package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Secrets and configs with content are written by the supervisor, owned and with the mode
// asked for, and a host file is bind-mounted as it is; the container sees both read-only,
// even with a read-only root, and the record on disk never holds the content.
func TestFilesReachTheContainerWithTheirOwnerAndMode(t *testing.T) {
	s := newTestSupervisor(t)
	host := filepath.Join(t.TempDir(), "db_pw.txt")
	if err := os.WriteFile(host, []byte("from-host"), 0o640); err != nil {
		t.Fatal(err)
	}
	check := `set -e
[ "$(cat /run/secrets/db_pw)" = from-host ]
[ "$(stat -c '%a' /run/secrets/db_pw)" = 640 ]
[ "$(cat /run/secrets/api_key)" = k3y ]
[ "$(stat -c '%u %g %a' /run/secrets/api_key)" = "1000 1001 400" ]
[ "$(stat -c '%u %g %a %s' /etc/app.conf)" = "0 0 444 0" ]
! echo x > /run/secrets/api_key 2>/dev/null
! echo x > /run/secrets/db_pw 2>/dev/null`
	spec := testSpec("web", "sh", "-c", check)
	spec.ReadOnly = true
	spec.Files = []runtime.ContainerFile{
		{Kind: "secret", Key: "db_pw", Target: "/run/secrets/db_pw", Source: host, Mode: 0o444},
		{Kind: "secret", Key: "api_key", Target: "/run/secrets/api_key", Content: []byte("k3y"), UID: 1000, GID: 1001, Mode: 0o400},
		{Kind: "config", Key: "app", Target: "/etc/app.conf", Content: []byte{}, Mode: 0o444},
	}
	id, _ := startTestContainer(t, s, spec)
	var rec *state.Record
	waitFor(t, "the check to exit", func() bool {
		var err error
		rec, err = s.layout.ReadRecord(id)
		return err == nil && rec.State == state.Exited
	})
	if rec.ExitCode != 0 {
		t.Errorf("the check in the container exited %d, want 0", rec.ExitCode)
	}
	raw, err := os.ReadFile(filepath.Join(s.layout.Container(id), "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The check's own text holds k3y; the content would be there as base64 (azN5).
	if strings.Contains(string(raw), `"Content"`) || strings.Contains(string(raw), "azN5") {
		t.Errorf("the record holds the secret's content:\n%s", raw)
	}
	for _, f := range rec.Spec.Files {
		if f.Source == "" || f.Content != nil {
			t.Errorf("recorded %v with source %q and content: want a host file and no content", f, f.Source)
		}
	}
}
