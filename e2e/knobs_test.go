package e2e_test

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// The service-level kernel knobs of issue 13 (ulimits, group_add, oom_score_adj, CPU
// bandwidth, pid, ipc), as a process inside the container sees them.
var knobScenarios = []scenario{
	{
		name: "kernel knobs: ulimits, group_add, oom_score_adj and cpu quota seen inside",
		compose: `
services:
  knobs:
    image: ${REGISTRY}/busybox:latest
    command:
      - sh
      - -c
      - |
        echo "nofile $(ulimit -n) $(ulimit -Hn)"
        echo "groups $(id -G | tr ' ' '\n' | sort -n | tr '\n' ' ')"
        echo "oom $(cat /proc/self/oom_score_adj)"
        echo "quota $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max)"
    ulimits:
      nofile: {soft: 1000, hard: 1500}
    group_add: [nobody, "4242"]
    oom_score_adj: 321
    cpu_quota: 30000
    cpu_period: 60000
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("run", "--rm", "knobs")
			for _, want := range []string{"nofile 1000 1500", "groups 0 4242 65534 ", "oom 321"} {
				if !hasLine(r.Stdout, want) {
					t.Errorf("the container does not print %q:\n%s", want, r)
				}
			}
			// cgroup v1 has a file each; v2's cpu.max is "QUOTA PERIOD".
			if !strings.Contains(strings.Join(strings.Fields(r.Stdout), " "), "quota 30000 60000") {
				t.Errorf("the container's cgroup does not show quota 30000 per 60000 µs:\n%s", r)
			}

			// An exec'd process has the container's group_add groups and limits too.
			p.Write(strings.Replace(p.Compose(), "echo \"nofile", "trap 'exit 0' TERM; sleep 3600 & wait\n        echo \"nofile", 1))
			p.MustComp("up", "-d")
			if out := p.MustComp("exec", "-T", "knobs", "sh", "-c", "id -G | tr ' ' '\n' | sort -n | tr '\n' ' '; ulimit -n").Stdout; out != "0 4242 65534 1000\n" {
				t.Errorf("exec: id -G; ulimit -n = %q, want the service's groups and nofile", out)
			}
		},
	},
	{
		name: "pid: host sees the host's processes",
		compose: `
services:
  hostpid:
    image: ${REGISTRY}/busybox:latest
    pid: host
`,
		run: func(t *testing.T, p *e2e.Project) {
			// A process of the host's that only a container in the host's PID namespace sees.
			sleeper := exec.Command("sleep", "3599.5")
			if err := sleeper.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = sleeper.Process.Kill()
				_ = sleeper.Wait()
			})
			pid := sleeper.Process.Pid
			r := p.MustComp("run", "--rm", "hostpid", "sh", "-c", fmt.Sprintf("tr '\\0' ' ' < /proc/%d/cmdline", pid))
			if got := strings.TrimSpace(r.Stdout); got != "sleep 3599.5" {
				t.Errorf("/proc/%d/cmdline in the container = %q, want the host's sleep 3599.5:\n%s", pid, got, r)
			}
		},
	},
	{
		name: "pid: service: and uts: host share the other's processes and the host's hostname",
		compose: `
services:
  main:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  sidecar:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    pid: service:main
    uts: host
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			pidNS := func(svc string) string {
				return strings.TrimSpace(p.MustComp("exec", "-T", svc, "readlink", "/proc/self/ns/pid").Stdout)
			}
			if m, s := pidNS("main"), pidNS("sidecar"); m == "" || m != s {
				t.Errorf("PID namespaces: main %q, sidecar %q; want one", m, s)
			}
			// PID 1 of the shared namespace is main's shell.
			if out := p.MustComp("exec", "-T", "sidecar", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline").Stdout; !strings.Contains(out, "sleep 3600") {
				t.Errorf("the sidecar's PID 1 runs %q, want main's command", out)
			}
			host, err := os.Hostname()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(p.MustComp("exec", "-T", "sidecar", "hostname").Stdout); got != host {
				t.Errorf("hostname with uts: host = %q, want the host's %q", got, host)
			}
		},
	},
	{
		name: "ipc: service: shares the donor's IPC namespace; a private donor is refused",
		compose: `
services:
  donor:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo shared > /dev/shm/marker; sleep 3600 & wait"]
    ipc: shareable
  joiner:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    ipc: service:donor
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			ns := func(svc string) string {
				return strings.TrimSpace(p.MustComp("exec", "-T", svc, "readlink", "/proc/self/ns/ipc").Stdout)
			}
			if d, j := ns("donor"), ns("joiner"); d == "" || d != j {
				t.Errorf("IPC namespaces: donor %q, joiner %q; want one", d, j)
			}
			sharesShm := func() {
				t.Helper()
				e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
					if r := p.CompQuiet("exec", "-T", "joiner", "cat", "/dev/shm/marker"); r.Stdout != "shared\n" {
						return fmt.Errorf("the joiner does not see the donor's /dev/shm: %s", r)
					}
					return nil
				})
			}
			sharesShm()

			// A recreated donor takes its joiner along, which then shares the new namespace.
			before := ids(t, p.PS(false), 2)
			p.Write(strings.Replace(p.Compose(), "    ipc: shareable\n", "    ipc: shareable\n    environment: {V: \"2\"}\n", 1))
			p.MustComp("up", "-d")
			after := ids(t, p.PS(false), 2)
			if j := p.ContainerName("joiner", 1); before[j] == after[j] {
				t.Errorf("the joiner kept container %s when its IPC donor was recreated", before[j])
			}
			if d, j := ns("donor"), ns("joiner"); d == "" || d != j {
				t.Errorf("after the donor's recreation, IPC namespaces: donor %q, joiner %q; want one", d, j)
			}
			sharesShm()
			// The shareable donor's /dev/shm is a tmpfs on the host: down unmounts it.
			downLeavesNothing(t, p, append(slices.Collect(maps.Values(before)), slices.Collect(maps.Values(after))...)...)

			// As on Docker, a container's own IPC namespace is private unless it says shareable.
			p.Write(strings.Replace(p.Compose(), "    ipc: shareable\n", "", 1))
			r := p.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, "shareable") {
				t.Errorf("up joining a private IPC namespace: exit %d, want an error saying the donor must be shareable:\n%s", r.ExitCode, r)
			}
			// It is refused before the donor is made, not when the joiner starts.
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("the refused up made containers: %+v", cs)
			}
		},
	},
	{
		// Each runtime refuses a knob it cannot honour: Docker Engine has no umask, the
		// embedded runtime no storage options.
		name: "a kernel knob the runtime cannot honour stops up, creating nothing",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    volumes: [data:/data]
  web:
    image: ${REGISTRY}/busybox:latest
    KNOB
volumes:
  data: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			knob, says := `storage_opt: {size: 1G}`, "services.web.storage_opt is not supported by the embedded runtime"
			if p.Runtime == "docker" {
				knob, says = `umask: "0077"`, "services.web.umask is not supported by the docker runtime: Docker Engine has no umask setting"
			}
			p.Write(strings.Replace(p.Compose(), "KNOB", knob, 1))
			r := p.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, says) || !strings.Contains(r.Stderr, "web") {
				t.Fatalf("up: exit %d, want an error naming web and saying %q:\n%s", r.ExitCode, says, r)
			}
			requireNothingCreated(t, p, "up with "+knob)
		},
	},
	{
		// A weight is applied or refused, never dropped: Docker Engine alone only warns when
		// it finds no blkio.weight (it does not look for BFQ's), and runs the container without.
		name: "blkio_config.weight is applied or refused, never dropped",
		compose: `
services:
  weighted:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    blkio_config:
      weight: 300
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "-d")
			if r.ExitCode != 0 {
				if !strings.Contains(strings.ToLower(r.Stderr), "weight") {
					t.Errorf("up with a blkio weight failed without saying why:\n%s", r)
				}
				if cs := p.PS(true); len(cs) != 0 {
					t.Errorf("a container without its weight was left: %+v", cs)
				}
				return
			}
			// The container sees its own blkio cgroup (v1) or io cgroup (v2).
			out := p.MustComp("exec", "-T", "weighted", "sh", "-c",
				"cat /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.weight 2>/dev/null; true").Stdout
			if !strings.Contains(out, "300") {
				t.Errorf("up ran the container, but its cgroup has weight %q, not 300", out)
			}
		},
	},
}

func init() { scenarios = append(scenarios, knobScenarios...) }
