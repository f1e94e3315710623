package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// lifecycleScenarios cover how a project's life ends or is watched: `up --wait`, the attached
// `up` flags that abort or filter, `wait` and `events`. They join the one table through init.
var lifecycleScenarios = []scenario{
	{
		name: "up --wait returns once services are healthy and one-shots completed",
		compose: `
services:
  init:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo initialised"]
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    depends_on:
      init: {condition: service_completed_successfully}
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  plain:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("up", "--wait", "--wait-timeout", "60")
			// No polling here: --wait promises the state when it returns.
			cs := byName(p.PS(true))
			for _, want := range []e2e.Container{
				{Name: p.ContainerName("init", 1), State: "exited", ExitCode: 0},
				{Name: p.ContainerName("app", 1), State: "running", Health: "healthy"},
				{Name: p.ContainerName("plain", 1), State: "running"},
			} {
				c, ok := cs[want.Name]
				if !ok || c.State != want.State || c.Health != want.Health || c.ExitCode != want.ExitCode {
					t.Errorf("after up --wait, %s is %+v (found %v), want state %s health %q exit %d",
						want.Name, c, ok, want.State, want.Health, want.ExitCode)
				}
			}
			if !e2e.HasProgress(r.Stderr, "Container", p.ContainerName("app", 1), "Healthy") {
				t.Errorf("up --wait does not say `Container %s Healthy`:\n%s", p.ContainerName("app", 1), r.Stderr)
			}
		},
	},
	{
		name: "up --wait fails on a service that is never healthy",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 1000}
`,
		run: func(t *testing.T, p *e2e.Project) {
			start := time.Now()
			r := p.Comp("up", "--wait", "--wait-timeout", "3")
			if r.ExitCode != 1 || !strings.Contains(r.Stderr, "application not healthy after 3s") {
				t.Errorf("up --wait --wait-timeout 3: exit %d, want 1 with `application not healthy after 3s`:\n%s", r.ExitCode, r)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("up --wait --wait-timeout 3 took %v", took)
			}

			// An unhealthy container fails the wait at once, by name, with no timeout to run out.
			p.Write(strings.Replace(p.Compose(), "retries: 1000", "retries: 1", 1))
			r = p.Comp("up", "--wait")
			if want := "container " + p.ContainerName("app", 1) + " is unhealthy"; r.ExitCode != 1 || !strings.Contains(r.Stderr, want) {
				t.Errorf("up --wait of an unhealthy service: exit %d, want 1 with %q:\n%s", r.ExitCode, want, r)
			}
		},
	},
	{
		name: "up --exit-code-from ends with that service's exit code",
		compose: `
services:
  worker:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo working; exit 3"]
  server:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "--no-color", "--exit-code-from", "worker")
			if r.ExitCode != 3 {
				t.Errorf("up --exit-code-from worker exits %d, want 3:\n%s", r.ExitCode, r)
			}
			if !strings.Contains(r.Stdout+r.Stderr, "Aborting on container exit...") {
				t.Errorf("up does not say it aborts:\n%s", r)
			}
			if !hasLine(r.Stdout, "worker-1  | working") {
				t.Errorf("up does not show worker's output:\n%s", r.Stdout)
			}
			if cs := p.PS(false); len(cs) != 0 {
				t.Errorf("after the abort, ps lists running containers: %+v", cs)
			}
		},
	},
	{
		name: "up --abort-on-container-exit stops the other services",
		compose: `
services:
  short:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo done"]
  long1:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
  long2:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "--no-color", "--abort-on-container-exit")
			if r.ExitCode != 0 {
				t.Errorf("up --abort-on-container-exit after an exit 0 exits %d, want 0:\n%s", r.ExitCode, r)
			}
			if !strings.Contains(r.Stdout+r.Stderr, "Aborting on container exit...") {
				t.Errorf("up does not say it aborts:\n%s", r)
			}
			if cs := p.PS(false); len(cs) != 0 {
				t.Errorf("after the abort, ps lists running containers: %+v", cs)
			}

			// --abort-on-container-failure lets a clean exit pass (ok completes before failing
			// starts) and aborts on the failure, with its exit code.
			p.Write(`
services:
  ok:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo fine"]
  failing:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo broken; exit 2"]
    depends_on:
      ok: {condition: service_completed_successfully}
  long:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`)
			r = p.Comp("up", "--no-color", "--remove-orphans", "--abort-on-container-failure")
			if r.ExitCode != 2 {
				t.Errorf("up --abort-on-container-failure exits %d, want the failing container's 2:\n%s", r.ExitCode, r)
			}
			if !hasLine(r.Stdout, "ok-1 exited with code 0") || !hasLine(r.Stdout, "failing-1 exited with code 2") {
				t.Errorf("up does not report both exits:\n%s", r.Stdout)
			}
			if cs := p.PS(false); len(cs) != 0 {
				t.Errorf("after the abort on failure, ps lists running containers: %+v", cs)
			}
		},
	},
	{
		name: "up --attach and --no-attach choose whose output is shown, with --timestamps",
		compose: `
services:
  a:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo from a"]
  b:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo from b"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "--no-color", "--attach", "a")
			if r.ExitCode != 0 {
				t.Fatalf("up --attach a exits %d:\n%s", r.ExitCode, r)
			}
			if !hasLine(r.Stdout, "a-1  | from a") || strings.Contains(r.Stdout, "from b") {
				t.Errorf("up --attach a shows, want a's output and not b's:\n%s", r.Stdout)
			}
			if !strings.Contains(r.Stdout, "Attaching to a-1\n") {
				t.Errorf("up --attach a does not attach to a-1 alone:\n%s", r.Stdout)
			}

			p.MustComp("down", "-t", "1")
			r = p.Comp("up", "--no-color", "--timestamps", "--no-attach", "a")
			if r.ExitCode != 0 {
				t.Fatalf("up --no-attach a exits %d:\n%s", r.ExitCode, r)
			}
			stamped := regexp.MustCompile(`(?m)^b-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z from b$`)
			if !stamped.MatchString(r.Stdout) || strings.Contains(r.Stdout, "from a") {
				t.Errorf("up --timestamps --no-attach a shows, want b's output with timestamps and not a's:\n%s", r.Stdout)
			}
		},
	},
	{
		name: "wait returns the exit code of a service's container",
		compose: `
services:
  job:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 5"]
  other:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			waiter := p.Start("wait", "job")
			// wait also answers for a container that has exited already, so it does not
			// matter whether it saw the job running.
			p.MustComp("exec", "-T", "job", "touch", "/tmp/go")
			want := fmt.Sprintf("container %q exited with status code 5", p.ContainerName("job", 1))
			e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				exited, err := waiter.Exited()
				if !exited {
					return errors.New("comp wait job is still waiting")
				}
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 5 {
					t.Fatalf("comp wait job ended with %v, want exit status 5:\n%s", err, waiter.Output())
				}
				return nil
			})
			if out := waiter.Output(); !strings.Contains(out, want) {
				t.Errorf("comp wait job printed, want %q:\n%s", want, out)
			}
			if r := p.Comp("wait", "job"); r.ExitCode != 5 || !strings.Contains(r.Stdout, want) {
				t.Errorf("comp wait of the exited job: exit %d, want 5 and %q:\n%s", r.ExitCode, want, r)
			}
			if cs := byName(p.PS(false)); cs[p.ContainerName("other", 1)].State != "running" {
				t.Errorf("comp wait touched the other service: %+v", cs)
			}
		},
	},
	{
		name: "events --json shows the die and start of a restart",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			name := p.ContainerName("app", 1)
			events := p.Start("events", "--json")
			// Nothing tells when the events subscription is active: restart until a restart is
			// seen, at most once every few seconds.
			var restarted time.Time
			var die, start *eventLine
			e2e.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
				if exited, err := events.Exited(); exited {
					t.Fatalf("comp events ended (%v):\n%s", err, events.Output())
				}
				evs, err := parseEvents(events.Output())
				if err != nil {
					t.Fatal(err)
				}
				die, start = nil, nil
				for i := range evs {
					switch ev := &evs[i]; {
					case ev.Attributes["name"] != name:
					case ev.Action == "die" && die == nil:
						die = ev
					case ev.Action == "start" && die != nil:
						start = ev
					}
				}
				if die != nil && start != nil {
					return nil
				}
				if time.Since(restarted) > 5*time.Second {
					p.MustComp("restart", "-t", "1", "app")
					restarted = time.Now()
				}
				return fmt.Errorf("events show no die then start of %s:\n%s", name, events.Output())
			})
			for _, ev := range []*eventLine{die, start} {
				if ev.Type != "container" || ev.Service != "app" || ev.ID == "" || ev.Time.IsZero() ||
					!strings.Contains(ev.Attributes["image"], "busybox") {
					t.Errorf("event %+v: want type container, service app, an ID, a time and the busybox image", ev)
				}
			}
			if _, ok := die.Attributes["exitCode"]; !ok {
				t.Errorf("die event %+v has no exitCode", die)
			}
		},
	},
}

func init() { scenarios = append(scenarios, lifecycleScenarios...) }

// eventLine is one line of `comp events --json`.
type eventLine struct {
	Time       time.Time
	Type       string
	Action     string
	ID         string
	Service    string
	Attributes map[string]string
}

// parseEvents parses the complete lines of `comp events --json` output.
func parseEvents(out string) ([]eventLine, error) {
	var evs []eventLine
	lines := strings.Split(out, "\n")
	for _, l := range lines[:len(lines)-1] { // the last one may be partial
		if strings.TrimSpace(l) == "" {
			continue
		}
		var ev eventLine
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			return nil, fmt.Errorf("comp events --json printed %q: %w", l, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
