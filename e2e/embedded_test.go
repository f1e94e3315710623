package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// These faults belong to the embedded runtime alone: Docker has no supervisor of comp's to
// kill and needs no root of comp.

// A killed supervisor loses no container and no output: the containers keep running, ps still
// lists them, the next command re-adopts them and down removes them without a trace.
func TestEmbeddedSupervisorKilled(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	p := e2e.NewProject(t, "embedded", "supervisor-killed", `
services:
  ticker:
    image: ${REGISTRY}/busybox:latest
    network_mode: none
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.05; done"]
  idle:
    image: ${REGISTRY}/busybox:latest
    network_mode: none
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`)
	p.MustComp("up", "-d")
	before := ids(t, p.PS(true), 2)
	var sup int
	e2e.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, pid := range e2e.Supervisors() {
			if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(cmd), p.Name) {
				sup = pid
				return nil
			}
		}
		return errNoSupervisor
	})
	if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, err := os.Stat("/proc/" + strconv.Itoa(sup)); err == nil {
			return errSupervisorAlive
		}
		return nil
	})

	// Without a supervisor, the containers run on and ps says so.
	after := ids(t, p.PS(true), 2)
	for name, id := range before {
		if after[name] != id {
			t.Errorf("container %s changed from %s to %s", name, id, after[name])
		}
	}
	// The next command that changes something re-adopts them: output written while nobody
	// read it was kept in the pipe and reaches the log, in order, with no gap.
	p.MustComp("up", "-d")
	var out string
	e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		out = p.CompQuiet("logs", "--no-log-prefix", "ticker").Stdout
		if n := len(tickNumbers(out)); n < 100 {
			return errFewTicks
		}
		return nil
	})
	ticks := tickNumbers(out)
	for i, n := range ticks {
		if n != i+1 {
			t.Fatalf("tick %d is %d: output was lost or repeated around the supervisor's death:\n%s", i+1, n, out)
		}
	}
	var containerIDs []string
	for _, id := range after {
		containerIDs = append(containerIDs, id)
	}
	p.MustComp("down", "-t", "1")
	if left := e2e.EmbeddedLeftovers(containerIDs); len(left) > 0 {
		t.Errorf("down after a supervisor crash left behind:\n%s", strings.Join(left, "\n"))
	}
}

var tickLine = regexp.MustCompile(`(?m)^tick (\d+)$`)

func tickNumbers(out string) []int {
	var ns []int
	for _, m := range tickLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}

type testError string

func (e testError) Error() string { return string(e) }

const (
	errNoSupervisor    = testError("no supervisor runs for the project")
	errSupervisorAlive = testError("the supervisor is still alive")
	errFewTicks        = testError("fewer than 100 ticks logged")
)

// Without root the embedded runtime says so and points at the Docker runtime.
func TestEmbeddedNeedsRoot(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	p := e2e.NewProject(t, "embedded", "not-root", `
services:
  web:
    image: ${REGISTRY}/busybox:latest
`)
	// nobody must be able to reach the binary and the project: copy both to a folder of its own.
	dir, err := os.MkdirTemp("", "comp-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin, err := os.ReadFile(e2e.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comp"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(p.ComposeFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), compose, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "comp"), "-p", p.Name, "--runtime", "embedded", "up", "-d")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMP_ROOT="+e2e.StateRoot)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs root") || !strings.Contains(string(out), "--runtime docker") {
		t.Errorf("up as nobody: %v:\n%s", err, out)
	}
}

// comp as README builds it carries the lean core: comp version says so, the project's
// supervisor runs it from the state folder's bin, and a service with init: true (whose PID 1
// is the core, mounted as /sbin/comp-init) runs.
func TestEmbeddedSupervisorRunsTheLeanCore(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	version, err := exec.Command(e2e.Binary(t), "--runtime", "embedded", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "lean core") {
		t.Fatalf("comp version does not report the lean core (%v):\n%s", err, version)
	}
	p := e2e.NewProject(t, "embedded", "lean-core", `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    network_mode: none
    init: true
    command: ["sleep", "3600"]
`)
	p.MustComp("up", "-d", "--wait")
	var exe string
	e2e.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, pid := range e2e.Supervisors() {
			if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(cmd), p.Name) {
				exe, _ = os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
				return nil
			}
		}
		return errNoSupervisor
	})
	if want := filepath.Join(e2e.StateRoot, "bin") + "/comp-core-"; !strings.HasPrefix(exe, want) {
		t.Errorf("the supervisor runs %s, want the core %s<digest>", exe, want)
	}
	if ps := p.PS(false); len(ps) != 1 || ps[0].State != "running" {
		t.Fatalf("app is not running: %+v", ps)
	}
	p.MustComp("down", "-t", "0")
}

// A state folder on a noexec file system (COMP_ROOT under a noexec /tmp is common) could hold
// the lean core but not run it: the supervisor then runs comp itself, and containers start.
func TestEmbeddedStateOnANoexecFileSystem(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", syscall.MS_NOEXEC, "size=256m,mode=0700"); err != nil {
		t.Fatal(err)
	}
	// Registered before the project, so it runs after the project's down.
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	p := e2e.NewProject(t, "embedded", "noexec-state", `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    network_mode: none
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`)
	p.Env = append(p.Env, "COMP_ROOT="+root)
	p.MustComp("up", "-d")
	if ps := p.PS(false); len(ps) != 1 || ps[0].State != "running" {
		t.Fatalf("app is not running: %+v", ps)
	}
	layout := state.LayoutAt(root)
	pids := layout.Supervisors(e2e.Binary(t))[p.Name]
	if len(pids) != 1 {
		t.Fatalf("supervisors of %s: %v, want one", p.Name, pids)
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pids[0]) + "/exe"); exe != e2e.Binary(t) {
		t.Errorf("the supervisor runs %s, want comp itself (%s): the core cannot run from a noexec folder", exe, e2e.Binary(t))
	}
	p.MustComp("down", "-t", "0")
	syscall.Kill(pids[0], syscall.SIGTERM)
	e2e.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(layout.Supervisors(e2e.Binary(t))[p.Name]) != 0 {
			return errSupervisorAlive
		}
		return nil
	})
}

// What the embedded runtime cannot do (an IPv6 network, Docker's default bridge) stops `up`
// before it creates anything: no network, volume or container of the project is left.
func TestEmbeddedRefusesUnsupportedBeforeCreatingAnything(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	for _, tc := range []struct{ what, compose, says string }{
		{"an IPv6 network", `
services:
  web:
    image: ${REGISTRY}/busybox:latest
    networks: [plain, v6]
    volumes: [data:/data]
networks:
  plain: {}
  v6:
    enable_ipv6: true
    ipam:
      config:
        - subnet: fd00:c0:ff::/64
volumes:
  data: {}
`, "IPv6"},
		{"network_mode: bridge", `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    volumes: [data:/data]
  web:
    image: ${REGISTRY}/busybox:latest
    network_mode: bridge
volumes:
  data: {}
`, "network_mode: bridge"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			p := e2e.NewProject(t, "embedded", "refuses "+tc.what, tc.compose)
			r := p.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, tc.says) {
				t.Fatalf("up: exit %d, want an error about %s:\n%s", r.ExitCode, tc.says, r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("containers were created: %+v", cs)
			}
			if out := p.MustComp("volume", "ls").Stdout; strings.Contains(out, p.Name) {
				t.Errorf("a volume was created:\n%s", out)
			}
			nets, _ := os.ReadFile(filepath.Join(e2e.StateRoot, "networks", "networks.json"))
			if strings.Contains(string(nets), p.Name) {
				t.Errorf("a network was created: %s", nets)
			}
		})
	}
}
