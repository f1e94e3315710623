package e2e_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// Lifecycle semantics: healthchecks, depends_on conditions and restart policies, on every
// runtime.
var healthScenarios = []scenario{
	{
		name: "a three-deep service_healthy chain comes up healthy",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  api:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    healthcheck: {test: ["CMD-SHELL", "test -d /"], interval: 1s}
    depends_on: {db: {condition: service_healthy}}
  web:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    healthcheck: {test: ["CMD", "true"], interval: 1s}
    depends_on: {api: {condition: service_healthy}}
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("up", "-d")
			for _, svc := range []string{"db", "api"} {
				if !e2e.HasProgress(r.Stderr, "Container", p.ContainerName(svc, 1), "Healthy") {
					t.Errorf("up does not say %s became Healthy:\n%s", svc, r.Stderr)
				}
			}
			e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
				for _, c := range p.PS(false) {
					if c.Health != "healthy" || !strings.Contains(c.Status, "(healthy)") {
						return fmt.Errorf("%s: health %q, status %q", c.Name, c.Health, c.Status)
					}
				}
				return nil
			})
		},
	},
	{
		name: "a dependency that fails stops its dependents, with Compose's words",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "exit 1"]
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  api:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    depends_on: {db: {condition: service_healthy}}
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "-d")
			want := "dependency failed to start: container " + p.ContainerName("db", 1) + " exited (1)"
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, want) {
				t.Errorf("up: exit %d, want an error %q:\n%s", r.ExitCode, want, r.Stderr)
			}
			for _, c := range p.PS(true) {
				if c.Service == "api" && c.State == "running" {
					t.Errorf("api started although db failed: %+v", c)
				}
			}
		},
	},
	{
		name: "an unhealthy dependency is named",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 2}
  api:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    depends_on: {db: {condition: service_healthy}}
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "-d")
			want := "container " + p.ContainerName("db", 1) + " is unhealthy"
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, want) {
				t.Errorf("up: exit %d, want an error %q:\n%s", r.ExitCode, want, r.Stderr)
			}
		},
	},
	{
		name: "a one-shot init service completes before its dependent starts",
		compose: `
services:
  init:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo migrated > /data/done"]
    volumes: [data:/data]
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "cat /data/done; trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: [data:/data]
    depends_on: {init: {condition: service_completed_successfully}}
volumes:
  data:
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
				if out := p.CompQuiet("logs", "--no-log-prefix", "app").Stdout; !strings.Contains(out, "migrated") {
					return fmt.Errorf("app saw %q before init completed", out)
				}
				return nil
			})
		},
	},
	{
		name: "an optional dependency that fails is a warning",
		compose: `
services:
  cache:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "exit 2"]
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    depends_on:
      cache: {condition: service_completed_successfully, required: false}
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("up", "-d")
			if !strings.Contains(r.Stderr, "optional dependency") {
				t.Errorf("up does not warn about the failed optional dependency:\n%s", r.Stderr)
			}
			e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
				for _, c := range p.PS(false) {
					if c.Service == "app" {
						return nil
					}
				}
				return fmt.Errorf("app is not running")
			})
		},
	},
	{
		name: "restart: true restarts the dependents of a recreated service",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    environment: {V: "1"}
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo app started; trap 'exit 0' TERM; sleep 3600 & wait"]
    depends_on:
      db: {condition: service_started, restart: true}
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			before := ids(t, p.PS(false), 2)
			p.Write(strings.Replace(p.Compose(), `V: "1"`, `V: "2"`, 1))
			r := p.MustComp("up", "-d")
			if !e2e.HasProgress(r.Stderr, "Container", p.ContainerName("app", 1), "Restarted") {
				t.Errorf("up does not restart app:\n%s", r.Stderr)
			}
			after := ids(t, p.PS(false), 2)
			if after[p.ContainerName("app", 1)] != before[p.ContainerName("app", 1)] {
				t.Error("app was recreated, want it restarted")
			}
			e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
				if n := strings.Count(p.CompQuiet("logs", "app").Stdout, "app started"); n != 2 {
					return fmt.Errorf("app started %d times, want 2", n)
				}
				return nil
			})
		},
	},
	{
		name: "on-failure:2 runs exactly three times",
		compose: `
services:
  flaky:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo run; exit 3"]
    restart: on-failure:2
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				cs := p.PS(true)
				if len(cs) != 1 || cs[0].State != "exited" {
					return fmt.Errorf("ps: %+v", cs)
				}
				if n := strings.Count(p.CompQuiet("logs", "flaky").Stdout, "run"); n != 3 {
					return fmt.Errorf("ran %d times", n)
				}
				if rc := restartCount(t, p, "flaky"); rc != 2 {
					return fmt.Errorf("RestartCount %d, want 2", rc)
				}
				return nil
			})
		},
	},
	{
		name: "restart: always survives a kill of the container's process, but not comp stop",
		compose: `
services:
  svc:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    restart: always
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			pid := mainPID(t, p, "svc")
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				cs := p.PS(false)
				if len(cs) != 1 || restartCount(t, p, "svc") < 1 {
					return fmt.Errorf("not restarted yet: %+v", cs)
				}
				return nil
			})
			p.MustComp("stop", "-t", "1", "svc")
			// For two seconds, nothing brings it back.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				if cs := p.PS(false); len(cs) != 0 {
					t.Fatalf("a stopped container came back: %+v", cs)
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
	},
	{
		name: "attached up shows a container restarting",
		compose: `
services:
  once:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo attempt; exit 1"]
    restart: on-failure:1
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "--no-color")
			if strings.Count(r.Stdout, "once-1  | attempt") != 2 {
				t.Errorf("want two attempts in the output:\n%s", r.Stdout)
			}
			if !strings.Contains(r.Stdout, "once-1 exited with code 1 (restarting)") || !hasLine(r.Stdout, "once-1 exited with code 1") {
				t.Errorf("want a restarting exit, then a final one:\n%s", r.Stdout)
			}
		},
	},
}

func init() {
	healthScenarios = append(healthScenarios, scenario{
		name: "logs -f ends when every container has exited and none will restart",
		compose: `
services:
  brief:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo hello; sleep 1; echo bye"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			follow := p.Start("logs", "-f", "--no-color")
			defer follow.Stop()
			e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				if exited, _ := follow.Exited(); !exited {
					return fmt.Errorf("logs -f still runs:\n%s", follow.Output())
				}
				return nil
			})
			if out := follow.Output(); !strings.Contains(out, "brief-1  | bye") {
				t.Errorf("logs -f ended before the last line:\n%s", out)
			}
		},
	})
	scenarios = append(scenarios, healthScenarios...)
}

// restartCount reads the RestartCount of service's first container from ps --format json.
func restartCount(t *testing.T, p *e2e.Project, service string) int {
	t.Helper()
	r := p.CompQuiet("ps", "-a", "--format", "json", service)
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var c struct{ RestartCount int }
		if json.Unmarshal([]byte(line), &c) == nil {
			return c.RestartCount
		}
	}
	return -1
}

// mainPID is the host PID of the main process of service's container, from `comp top`.
func mainPID(t *testing.T, p *e2e.Project, service string) int {
	t.Helper()
	out := p.MustComp("top", service).Stdout
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		col := -1
		for j, f := range fields {
			if f == "PID" {
				col = j
			}
		}
		if col >= 0 && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > col {
				if pid, err := strconv.Atoi(f[col]); err == nil {
					return pid
				}
			}
		}
	}
	t.Fatalf("no PID in comp top:\n%s", out)
	return 0
}
