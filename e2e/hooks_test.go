package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// hookScenarios cover the lifecycle hooks (post_start, pre_stop), attach: false, and the
// env and label files read at load. They join the one table through init.
var hookScenarios = []scenario{
	{
		name: "post_start runs in the container on up, restart, start and run",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; until [ -s /tmp/hooked ]; do sleep 0.1; done; echo \"first hook: $$(head -n1 /tmp/hooked)\"; sleep 3600 & wait"]
    post_start:
      - command: ["sh", "-c", "echo \"$$GREETING from $$(pwd) as $$(id -u)\" >> /tmp/hooked"]
        environment: {GREETING: hello}
        working_dir: /tmp
        user: "1000"
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			// The container's command waits for what the hook wrote and prints it.
			e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
				if r := p.CompQuiet("logs", "app"); !strings.Contains(r.Stdout, "first hook: hello from /tmp as 1000") {
					return fmt.Errorf("logs do not show the post_start hook's line:\n%s", r)
				}
				return nil
			})
			runs := func() string {
				t.Helper()
				return strings.TrimSpace(p.MustComp("exec", "-T", "app", "sh", "-c", "wc -l < /tmp/hooked").Stdout)
			}
			if n := runs(); n != "1" {
				t.Errorf("after up, the hook ran %s times, want 1", n)
			}
			p.MustComp("restart", "app")
			if n := runs(); n != "2" {
				t.Errorf("after restart, the hook ran %s times in all, want 2", n)
			}
			p.MustComp("stop", "-t", "1")
			p.MustComp("start")
			if n := runs(); n != "3" {
				t.Errorf("after stop and start, the hook ran %s times in all, want 3", n)
			}
			// A one-off container runs the service's hooks too: its command waits for them.
			r := p.MustComp("run", "--rm", "-T", "app", "timeout", "20", "sh", "-c", "until [ -s /tmp/hooked ]; do sleep 0.1; done; cat /tmp/hooked")
			if strings.TrimSpace(r.Stdout) != "hello from /tmp as 1000" {
				t.Errorf("run prints %q, want the post_start hook's line", r.Stdout)
			}
		},
	},
	{
		name: "a failing post_start fails up with the hook's output",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    post_start:
      - command: ["sh", "-c", "echo cannot reach the database >&2; exit 3"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			want := "post_start hook 1 (sh -c echo cannot reach the database >&2; exit 3) exited with status 3: cannot reach the database"
			r := p.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, want) {
				t.Fatalf("up with a failing post_start: exit %d, want non-zero with %q:\n%s", r.ExitCode, want, r)
			}
			// The container whose start failed is not left running: the next up tries again.
			if c := byName(p.PS(true))[p.ContainerName("app", 1)]; c.State == "running" {
				t.Errorf("after the failed post_start, %s is %s, want stopped", c.Name, c.State)
			}
			if r := p.Comp("up", "-d"); r.ExitCode == 0 || !strings.Contains(r.Stderr, want) {
				t.Errorf("up again: exit %d, want the hook run and failing again:\n%s", r.ExitCode, r)
			}
		},
	},
	{
		name: "pre_stop runs before stop, recreate and down",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    volumes: ["hooks:/hooks"]
    pre_stop:
      - command: ["sh", "-c", "echo \"pre_stop in $$(hostname)\" >> /hooks/log"]
volumes:
  hooks:
`,
		run: func(t *testing.T, p *e2e.Project) {
			// Read by a one-off container, which exits by itself: no stop, no pre_stop of its own.
			lines := func() []string {
				t.Helper()
				out := strings.TrimSpace(p.MustComp("run", "--rm", "-T", "app", "cat", "/hooks/log").Stdout)
				if out == "" {
					return nil
				}
				return strings.Split(out, "\n")
			}
			p.MustComp("up", "-d")
			p.MustComp("stop")
			if got := lines(); len(got) != 1 {
				t.Errorf("after stop, the volume's log is %q, want one pre_stop line", got)
			}
			p.MustComp("up", "-d")
			p.MustComp("up", "-d", "--force-recreate")
			if got := lines(); len(got) != 2 {
				t.Errorf("after a recreate, the volume's log is %q, want a second pre_stop line", got)
			}
			p.MustComp("down")
			if got := lines(); len(got) != 3 {
				t.Errorf("after down, the volume's log is %q, want a third pre_stop line", got)
			}
		},
	},
	{
		name: "attach false leaves a service out of attached up",
		compose: `
services:
  loud:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo from loud"]
  quiet:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo from quiet"]
    attach: false
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("up", "--no-color")
			if !strings.Contains(r.Stdout, "Attaching to loud-1\n") || !strings.Contains(r.Stdout, "| from loud") {
				t.Errorf("attached up does not show loud:\n%s", r)
			}
			if strings.Contains(r.Stdout, "from quiet") || strings.Contains(r.Stdout, "quiet-1") {
				t.Errorf("attached up shows quiet, which has attach: false:\n%s", r)
			}
			// Its output is there all the same, for logs.
			e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
				if r := p.CompQuiet("logs", "quiet"); !strings.Contains(r.Stdout, "from quiet") {
					return fmt.Errorf("logs quiet:\n%s", r)
				}
				return nil
			})
			// --attach names it: attach: false does not hold it back then.
			r = p.MustComp("up", "--no-color", "--attach", "quiet")
			if !strings.Contains(r.Stdout, "Attaching to quiet-1\n") || !strings.Contains(r.Stdout, "| from quiet") {
				t.Errorf("up --attach quiet does not show quiet:\n%s", r)
			}
		},
	},
	{
		name: "COMPOSE_ENV_FILES, env_file format raw and label_file",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:${TAG}
    command: ["sh", "-c", "echo \"greeting=$$GREETING raw=$$RAW\"; trap 'exit 0' TERM; sleep 3600 & wait"]
    environment:
      GREETING: ${GREETING}
    env_file:
      - path: raw.env
        format: raw
    label_file: ./app.labels
`,
		run: func(t *testing.T, p *e2e.Project) {
			for name, content := range map[string]string{
				"one.env":    "TAG=latest\nGREETING=from-one\n",
				"two.env":    "GREETING=from-two\n",
				"raw.env":    "RAW=\"quoted $HOME\"\n",
				"app.labels": "tier=backend\n",
			} {
				if err := os.WriteFile(filepath.Join(p.Dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p.Env = append(p.Env, "COMPOSE_ENV_FILES=one.env,two.env")
			p.MustComp("up", "-d")
			want := `greeting=from-two raw="quoted $HOME"`
			e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
				if r := p.CompQuiet("logs", "app"); !strings.Contains(r.Stdout, want) {
					return fmt.Errorf("logs app lack %q:\n%s", want, r)
				}
				return nil
			})
			if r := p.MustComp("ps", "--format", "json"); !strings.Contains(r.Stdout, "tier=backend") {
				t.Errorf("the container lacks the label of its label_file:\n%s", r)
			}
		},
	},
}

func init() { scenarios = append(scenarios, hookScenarios...) }
