package supervisor

import (
	"context"
	"log"
	"os"
	"testing"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/image"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// TestMain lets the test binary be a container's init, which libcontainer re-execs.
func TestMain(m *testing.M) {
	if sock := os.Getenv(fakeOldSupervisorEnv); sock != "" {
		os.Exit(fakeOldSupervisor(sock))
	}
	container.Init()
	os.Exit(m.Run())
}

// testImage is the busybox image newTestSupervisor stores.
const testImage = "busybox:test"

// requireRoot skips (fails in CI, which runs as root) a test that needs root: the image store
// unpacks layers with lchown and mknod, and containers need namespaces and mounts.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the supervisor's tests with images and containers need root, and CI runs as root")
	}
	t.Skip("needs root: the image store unpacks layers with lchown and mknod; run `go test` as root")
}

// newTestSupervisor returns the supervisor of project "p" on a state root of its own, holding
// the busybox image (changed by opts) as testImage. It removes the containers the test leaves.
func newTestSupervisor(t *testing.T, opts ...testimage.Option) *Supervisor {
	t.Helper()
	requireRoot(t)
	layout := state.LayoutAt(t.TempDir())
	images, err := image.Open(layout.Images())
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.Busybox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := images.Put(context.Background(), img, []string{testImage}); err != nil {
		t.Fatal(err)
	}
	mgr, err := container.NewManager(layout.Libcontainer())
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Log: the supervisor's goroutines may log after the test's end.
	s := newSupervisor(layout, "p", images, mgr, nil, log.New(os.Stderr, t.Name()+": supervisor: ", log.Lmicroseconds))
	t.Cleanup(func() {
		records, _ := layout.Records()
		for _, rec := range records {
			if err := s.remove(rec.ID, true, true); err != nil {
				t.Errorf("remove container %s: %v", rec.Name, err)
			}
		}
	})
	return s
}

// testSpec is a container of project "p" on no network, running cmd in testImage.
func testSpec(name string, cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Name: name, Image: testImage, Command: cmd, NetworkMode: runtime.Namespace{Mode: runtime.NamespaceNone},
		Labels: map[string]string{runtime.LabelProject: "p"}}
}

// startTestContainer creates and starts a container of spec, and returns its ID and entry.
func startTestContainer(t *testing.T, s *Supervisor, spec runtime.ContainerSpec) (string, *entry) {
	t.Helper()
	id, err := s.create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e, err := s.entry(id)
	if err != nil {
		t.Fatal(err)
	}
	return id, e
}
