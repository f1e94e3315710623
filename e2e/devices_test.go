package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// devicesScenarios cover services.*.devices: host device nodes on every runtime, and CDI
// devices (vendor/class=name) from a spec the test writes, where the runtime can inject them.
var devicesScenarios = []scenario{
	{
		name: "devices: a host device node at another path",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    devices: ["/dev/null:/dev/mynull"]
    command: ["sh", "-c", "echo x > /dev/mynull && echo wrote-mynull; trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			waitForLogLines(t, p, "app", "wrote-mynull")
			// /dev/null is character device 1:3; stat prints the numbers in hex.
			r := p.MustComp("exec", "-T", "app", "stat", "-c", "%F %t:%T", "/dev/mynull")
			if got := strings.TrimSpace(r.Stdout); got != "character special file 1:3" {
				t.Errorf("stat /dev/mynull in the container: %q, want the character device 1:3", got)
			}
		},
	},
	{
		name: "devices: CDI devices and their environment reach the container",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    devices: [comp.test/dev=null, comp.test/dev=zero]
    command:
      - sh
      - -c
      - |
        [ -c /dev/comp-null ] && echo x > /dev/comp-null && echo has-comp-null
        [ -c /dev/comp-zero ] && echo has-comp-zero
        echo "vendor=$$COMP_CDI_VENDOR zero=$$COMP_CDI_ZERO"
        trap 'exit 0' TERM; sleep 3600 & wait
`,
		run: func(t *testing.T, p *e2e.Project) {
			cdi := setUpCDI(t, p)
			if cdi.refusal != "" {
				requireRefusedUp(t, p, `service "app"`, "comp.test/dev=null", cdi.refusal)
				return
			}
			p.MustComp("up", "-d")
			waitForLogLines(t, p, "app", "has-comp-null", "has-comp-zero", "vendor=comp.test zero=1")
		},
	},
	{
		name: "devices: a CDI device no spec has stops up before anything is created",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    devices: [comp.test/dev=missing]
    command: ` + idle + `
  other:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			cdi := setUpCDI(t, p)
			want := cdi.refusal
			if want == "" {
				if !cdi.listsDevices {
					t.Skip("this Docker Engine does not list its CDI devices (API 1.50+), so it refuses an unknown one only once the container is made")
				}
				want = cdi.unknown
			}
			requireRefusedUp(t, p, `service "app"`, "comp.test/dev=missing", want)
		},
	},
	{
		// On the embedded runtime a fake NVIDIA spec (GPUs 0 and 1, and "all") serves the
		// requests; Docker Engine's drivers act only when a container starts, so there the
		// created containers carry the requests as Docker Compose makes them.
		name: "devices: gpus and device reservations reach the runtime's GPU devices",
		compose: `
services:
  all:
    image: ${REGISTRY}/busybox:latest
    gpus: all
    command: ["sh", "-c", "ls /dev | grep ^gpu; trap 'exit 0' TERM; sleep 3600 & wait"]
  one:
    image: ${REGISTRY}/busybox:latest
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu], count: 1}]
    command: ["sh", "-c", "ls /dev | grep ^gpu; trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			if p.Runtime == "docker" {
				p.MustComp("up", "--no-start")
				for svc, count := range map[string]int{"all": -1, "one": 1} {
					out, err := e2e.Docker("inspect", "--format", "{{json .HostConfig.DeviceRequests}}", p.ContainerName(svc, 1))
					if err != nil {
						t.Fatal(err)
					}
					var reqs []struct {
						Driver       string
						Count        int
						DeviceIDs    []string
						Capabilities [][]string
					}
					if err := json.Unmarshal([]byte(out), &reqs); err != nil {
						t.Fatalf("%s: DeviceRequests %s: %v", svc, out, err)
					}
					if len(reqs) != 1 || reqs[0].Driver != "" || reqs[0].Count != count || len(reqs[0].DeviceIDs) != 0 ||
						fmt.Sprint(reqs[0].Capabilities) != "[[gpu]]" {
						t.Errorf("%s: DeviceRequests = %s, want one of count %d and capabilities [[gpu]]", svc, out, count)
					}
				}
				return
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "gpu.yaml"), []byte(fakeGPUSpec), 0o644); err != nil {
				t.Fatal(err)
			}
			p.Env = append(p.Env, "COMP_CDI_SPEC_DIRS="+dir)
			p.MustComp("up", "-d")
			waitForLogLines(t, p, "all", "gpu0", "gpu1")
			waitForLogLines(t, p, "one", "gpu0")
			if r := p.MustComp("logs", "--no-log-prefix", "one"); strings.Contains(r.Stdout, "gpu1") {
				t.Errorf("count: 1 gave the container more than GPU 0:\n%s", r.Stdout)
			}
		},
	},
}

func init() { scenarios = append(scenarios, devicesScenarios...) }

// fakeGPUSpec is an NVIDIA-style CDI spec, GPUs by index and "all" as nvidia-ctk writes them,
// backed by /dev/null and /dev/zero.
const fakeGPUSpec = `cdiVersion: "0.6.0"
kind: nvidia.com/gpu
devices:
  - name: "0"
    containerEdits: {deviceNodes: [{path: /dev/gpu0, hostPath: /dev/null}]}
  - name: "1"
    containerEdits: {deviceNodes: [{path: /dev/gpu1, hostPath: /dev/zero}]}
  - name: all
    containerEdits:
      deviceNodes: [{path: /dev/gpu0, hostPath: /dev/null}, {path: /dev/gpu1, hostPath: /dev/zero}]
`

// compTestCDISpec is a CDI vendor comp.test/dev exposing /dev/null and /dev/zero under other
// names, with an environment variable for any of its devices and one for "zero" alone.
const compTestCDISpec = `cdiVersion: "0.6.0"
kind: comp.test/dev
devices:
  - name: "null"
    containerEdits:
      deviceNodes: [{path: /dev/comp-null, hostPath: /dev/null}]
  - name: zero
    containerEdits:
      deviceNodes: [{path: /dev/comp-zero, hostPath: /dev/zero}]
      env: [COMP_CDI_ZERO=1]
containerEdits:
  env: [COMP_CDI_VENDOR=comp.test]
`

// cdiSetup is what p's runtime does with CDI devices once the test's spec is in place.
type cdiSetup struct {
	// refusal, when set, is what `up` says instead: the runtime cannot inject CDI devices.
	refusal string
	// unknown is what `up` says of a device no spec has, when the runtime can tell before it
	// creates anything (listsDevices).
	unknown      string
	listsDevices bool
}

// setUpCDI writes compTestCDISpec where p's runtime reads CDI specs and says what to expect:
// the embedded runtime reads the folders of COMP_CDI_SPEC_DIRS; Docker Engine its own, and
// only from Engine 25 with CDI enabled, which the test learns from `docker info` as comp does.
// It skips the test on an engine that does not say whether it has CDI (25 and 26).
func setUpCDI(t *testing.T, p *e2e.Project) cdiSetup {
	t.Helper()
	if p.Runtime != "docker" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "comp-test.yaml"), []byte(compTestCDISpec), 0o644); err != nil {
			t.Fatal(err)
		}
		p.Env = append(p.Env, "COMP_CDI_SPEC_DIRS="+dir)
		return cdiSetup{unknown: "CDI device comp.test/dev=missing is in no CDI spec (looked in " + dir, listsDevices: true}
	}
	out, err := e2e.Docker("info", "--format", "{{json .}}")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ServerVersion     string
		CDISpecDirs       []string
		DiscoveredDevices *[]struct{ Source, ID string }
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	major, _ := strconv.Atoi(strings.SplitN(info.ServerVersion, ".", 2)[0])
	switch {
	case major < 25:
		return cdiSetup{refusal: "needs Docker Engine 25 or later with CDI enabled"}
	case len(info.CDISpecDirs) == 0 && major >= 27:
		return cdiSetup{refusal: "has CDI off"}
	case len(info.CDISpecDirs) == 0:
		t.Skipf("Docker Engine %s does not say whether it has CDI on", info.ServerVersion)
	}
	// The engine's folders are the machine's: one file of this project's, removed at the end.
	spec := filepath.Join(info.CDISpecDirs[0], p.Name+".yaml")
	if err := os.MkdirAll(info.CDISpecDirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, []byte(compTestCDISpec), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(spec) })
	setup := cdiSetup{unknown: "CDI device comp.test/dev=missing is in none of Docker Engine's CDI specs", listsDevices: info.DiscoveredDevices != nil}
	if setup.listsDevices {
		// The engine watches its folders: wait until it lists the new devices.
		e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
			out, err := e2e.Docker("info", "--format", "{{json .DiscoveredDevices}}")
			if err != nil || !strings.Contains(out, `"comp.test/dev=zero"`) {
				return fmt.Errorf("the engine does not list comp.test/dev=zero yet: %s %v", out, err)
			}
			return nil
		})
	}
	return setup
}

// requireRefusedUp runs `up -d` and checks that it fails saying each of says, and that it
// created nothing.
func requireRefusedUp(t *testing.T, p *e2e.Project, says ...string) {
	t.Helper()
	r := p.Comp("up", "-d")
	if r.ExitCode == 0 {
		t.Fatalf("up -d succeeded; want it refused saying %q:\n%s", says, r)
	}
	t.Logf("up -d refused:\n%s", r.Stderr)
	for _, s := range says {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("up -d: stderr does not say %q:\n%s", s, r.Stderr)
		}
	}
	requireNothingCreated(t, p, "the refused up")
}

// waitForLogLines waits until service's output holds each of lines.
func waitForLogLines(t *testing.T, p *e2e.Project, service string, lines ...string) {
	t.Helper()
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		r := p.CompQuiet("logs", "--no-log-prefix", service)
		got := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		for _, l := range lines {
			if !slices.Contains(got, l) {
				return fmt.Errorf("logs of %s do not have the line %q:\n%s", service, l, r)
			}
		}
		return nil
	})
}
