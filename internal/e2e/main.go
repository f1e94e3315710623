// Package e2e is the harness of comp's end-to-end tests: they run the built comp binary against
// every runtime, with images built from busybox and served by an in-process registry.
//
// A test package calls Main from its TestMain, then per scenario and runtime:
// RequireFeatures, RequireRuntime, NewProject, and the Project's methods.
//
// Environment:
//   - COMP_E2E_RUNTIMES: comma-separated runtimes to test (default "docker,embedded").
//   - COMP_E2E_EMBEDDED_FEATURES: comma-separated features the embedded runtime has gained
//     (see Features); scenarios needing others are skipped on it.
//   - COMP_E2E_BINARY: a comp binary to test instead of building ./cmd/comp.
//   - CI=true: an unavailable runtime or a missing busybox fails the tests instead of
//     skipping them.
//
// Compose files name images as ${REGISTRY}/busybox:TAG; the harness sets REGISTRY.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// RegistryEnv is the environment variable that holds the test registry's address
// ("127.0.0.1:PORT") for compose files: `image: ${REGISTRY}/busybox:latest`.
const RegistryEnv = "REGISTRY"

// VariantLabel is the image label that tells the pushed busybox variants apart.
const VariantLabel = "comp.e2e.variant"

// Images are the tags of busybox pushed to the test registry, by tag: "latest" is the plain
// image and "v2" differs only by its VariantLabel, so switching to it changes the digest.
var Images = map[string]map[string]string{
	"latest": {VariantLabel: "v1"},
	"v2":     {VariantLabel: "v2"},
}

// The state Main prepares for every test.
var (
	mainRan  bool
	binary   string
	buildErr error // comp could not be built: a failure wherever it happens
	setupErr error // the machine lacks something (busybox): skipped, or fatal in CI
	reg      *testregistry.Registry
)

// Main prepares the e2e tests, runs them and exits: it builds comp once (or takes
// $COMP_E2E_BINARY), starts the test registry, pushes the busybox images and sets REGISTRY.
// Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	mainRan = true
	tmp, err := os.MkdirTemp("", "comp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// The embedded runtime keeps its state for this run apart from the machine's, so that
	// leak checks see only what the tests made.
	if os.Getenv("COMP_ROOT") == "" {
		StateRoot = filepath.Join(tmp, "state")
		os.Setenv("COMP_ROOT", StateRoot)
		defer stopSupervisors()
	} else {
		StateRoot = os.Getenv("COMP_ROOT")
	}

	if bin := os.Getenv("COMP_E2E_BINARY"); bin != "" {
		binary, buildErr = filepath.Abs(bin)
	} else {
		binary = filepath.Join(tmp, "comp")
		buildErr = buildComp(binary)
	}

	reg, err = testregistry.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer reg.Close()
	setupErr = pushImages()
	os.Setenv(RegistryEnv, reg.Addr())
	defer removeDockerImages(reg.Addr())

	return m.Run()
}

// BuildTags are the tags of the comp binary under test (README's build command).
const BuildTags = "seccomp netgo osusergo"

// StateRoot is the embedded runtime's state folder (COMP_ROOT) of this run.
var StateRoot string

// stopSupervisors ends the embedded supervisors this run's binary left: each exits by itself a
// few seconds after its project is gone, but the run must not leave processes behind.
func stopSupervisors() {
	for _, pid := range Supervisors() {
		syscall.Kill(pid, syscall.SIGTERM)
	}
}

// Supervisors lists the PIDs of the embedded supervisors of this run's state folder: run by the
// comp binary under test, or by the lean core it installed there.
func Supervisors() []int {
	var pids []int
	for _, ps := range state.LayoutAt(StateRoot).Supervisors(binary) {
		pids = append(pids, ps...)
	}
	return pids
}

// removeDockerImages removes from the Docker Engine the images pulled from this run's registry:
// its port is new every run, so they would pile up otherwise.
func removeDockerImages(registryAddr string) {
	if !slices.Contains(Runtimes(), "docker") || Available("docker") != nil {
		return
	}
	refs, err := DockerLines("images", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return
	}
	var ours []string
	for _, ref := range refs {
		if strings.HasPrefix(ref, registryAddr+"/") {
			ours = append(ours, ref)
		}
	}
	if len(ours) > 0 {
		_, _ = Docker(append([]string{"rmi", "--force"}, ours...)...)
	}
}

// buildComp builds comp of the module under test into out as README says: with
// internal/buildcomp, static, with seccomp and the lean core, so that what ships is what runs
// (init: true mounts the core into containers; supervisors run it).
func buildComp(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// By import path: the tests run in their package's folder, inside the module.
	cmd := exec.CommandContext(ctx, goTool(), "run", "github.com/comp-dev/comp/internal/buildcomp", "-tags", BuildTags, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run internal/buildcomp: %w\n%s", err, b)
	}
	return nil
}

// goTool is the go command of the toolchain running the tests, else the one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// pushImages builds and pushes every tag of Images.
func pushImages() error {
	udpecho, err := buildUDPEcho()
	if err != nil {
		return err
	}
	for tag, labels := range Images {
		img, err := testimage.Busybox(testimage.WithLabels(labels),
			testimage.WithFile(testimage.File{Path: "bin/udpecho", Content: udpecho, Mode: 0o755}))
		if err != nil {
			return fmt.Errorf("build busybox:%s: %w", tag, err)
		}
		if _, err := reg.Push("busybox:"+tag, img); err != nil {
			return err
		}
	}
	return nil
}

// buildUDPEcho builds the static UDP echo server the images carry as /bin/udpecho.
func buildUDPEcho() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := filepath.Join(os.TempDir(), fmt.Sprintf("comp-udpecho-%d", os.Getpid()))
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "github.com/comp-dev/comp/internal/e2e/udpecho")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build udpecho: %w\n%s", err, b)
	}
	return os.ReadFile(out)
}

// Image returns the full reference of the pushed busybox:tag, "127.0.0.1:PORT/busybox:TAG".
func Image(tag string) string {
	return reg.Ref("busybox:" + tag)
}

// Binary returns the path of the comp binary under test, failing t if it could not be built.
func Binary(t testing.TB) string {
	t.Helper()
	requireMain(t)
	if buildErr != nil {
		t.Fatalf("comp binary: %v", buildErr)
	}
	return binary
}

// requireMain fails t when Main did not prepare the run, or skips it (fails in CI) when the
// machine lacks what the images are built from.
func requireMain(t testing.TB) {
	t.Helper()
	if !mainRan {
		t.Fatal("e2e: call e2e.Main(m) from TestMain")
	}
	if setupErr != nil {
		skipOrFail(t, "e2e setup: %v", setupErr)
	}
}

// skipOrFail skips t with the message, or fails it when CI=true: CI has every runtime and tool,
// so a missing one there is a broken machine, not a reason to pass.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
