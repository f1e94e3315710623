package supervisor

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/runtime"
)

// A create that fails leaves nothing behind (no folder, FIFO or anonymous volume), says which
// container it failed to create once, and the same create succeeds once its cause is gone.
func TestFailedCreateLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		what    string
		spec    func() runtime.ContainerSpec
		breakIt func(t *testing.T, s *Supervisor) (repair func())
	}{
		{"volumes_from a missing container, after an anonymous volume was made", func() runtime.ContainerSpec {
			spec := testSpec("web")
			spec.Mounts = []runtime.Mount{{Type: runtime.MountVolume, Target: "/cache"}}
			spec.VolumesFrom = []runtime.VolumesFrom{{Container: "store"}}
			return spec
		}, func(t *testing.T, s *Supervisor) func() {
			return func() {
				if _, err := s.create(testSpec("store")); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"an anonymous volume that cannot be made", func() runtime.ContainerSpec { return testSpec("web") },
			func(t *testing.T, s *Supervisor) func() {
				// A file where the volumes' folder goes: no volume can be made.
				if err := os.WriteFile(s.layout.Volumes(), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return func() { os.Remove(s.layout.Volumes()) }
			}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s := newTestSupervisor(t, testimage.WithVolumes("/data"))
			repair := tc.breakIt(t, s)
			before := dirEntries(t, s.layout.Containers())
			_, err := s.create(tc.spec())
			if err == nil {
				t.Fatal("create succeeded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "create container web: ") || strings.Count(msg, "create container") != 1 {
				t.Errorf("error %q: want it to start with \"create container web: \", once", msg)
			}
			if after := dirEntries(t, s.layout.Containers()); len(after) != len(before) {
				t.Errorf("containers' folder holds %v, want %v", after, before)
			}
			// Anonymous volumes have no project label: only their folders show them.
			if vols := dirEntries(t, s.layout.Volumes()); len(vols) != 0 {
				t.Errorf("volumes left: %v", vols)
			}
			repair()
			if _, err := s.create(tc.spec()); err != nil {
				t.Fatalf("create once repaired: %v", err)
			}
		})
	}
}

// dirEntries lists the names in folder dir, which may be missing (or a file: nothing).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTDIR) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
