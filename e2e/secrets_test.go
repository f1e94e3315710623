package e2e_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/comp-dev/comp/internal/e2e"
)

// The secret values of secretsCompose: none may show in labels or output.
const (
	dbPassword = "s3cret-from-a-file"
	apiKey     = "k3y-from-the-environment"
)

const secretsCompose = `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_pw
    secrets:
      - db_pw
      - source: api_key
        uid: "1000"
        gid: "1001"
        mode: 0400
      - source: owned
        target: owned.txt
        uid: "123"
        mode: 0440
    configs:
      - app_conf
      - source: app_conf
        target: /etc/app/app.conf
        mode: 0600
secrets:
  db_pw:
    file: ./db_pw.txt
  api_key:
    environment: API_KEY
  owned:
    file: ./owned.txt
configs:
  app_conf:
    content: |
      listen %s
`

var secretsScenarios = []scenario{
	{
		// A Postgres-style *_FILE variable names the secret; each source reaches the container
		// with the owner and mode asked for, the defaults being /run/secrets/NAME, /NAME and
		// 0444; a file source is the host file, bind-mounted read-only.
		name:    "secrets and configs: file, environment and content sources with owner and mode",
		compose: fmt.Sprintf(secretsCompose, "8080"),
		run: func(t *testing.T, p *e2e.Project) {
			writeProjectFile(t, p, "db_pw.txt", dbPassword, 0o644)
			writeProjectFile(t, p, "owned.txt", "owned\n", 0o600)
			p.Env = append(p.Env, "API_KEY="+apiKey)
			up := p.MustComp("up", "-d")

			exec := func(script string) string {
				t.Helper()
				r := p.Comp("exec", "-T", "db", "sh", "-c", script)
				if r.ExitCode != 0 {
					t.Errorf("exec %q: %s", script, r)
				}
				return strings.TrimSpace(r.Stdout)
			}
			if got := exec(`cat "$DB_PASSWORD_FILE"`); got != dbPassword {
				t.Errorf("cat $DB_PASSWORD_FILE = %q, want %q", got, dbPassword)
			}
			for _, c := range []struct{ path, stat, content string }{
				// The bind-mounted host file keeps its own owner and mode.
				{"/run/secrets/db_pw", "0 0 644", dbPassword},
				{"/run/secrets/api_key", "1000 1001 400", apiKey},
				// A relative secret target is under /run/secrets; uid, gid and mode on a file
				// source make comp write it with them.
				{"/run/secrets/owned.txt", "123 0 440", "owned"},
				{"/app_conf", "0 0 444", "listen 8080"},
				{"/etc/app/app.conf", "0 0 600", "listen 8080"},
			} {
				if got := exec("stat -c '%u %g %a' " + c.path); got != c.stat {
					t.Errorf("stat %s = %q, want %q", c.path, got, c.stat)
				}
				if got := exec("cat " + c.path); got != c.content {
					t.Errorf("cat %s = %q, want %q", c.path, got, c.content)
				}
			}
			// No other user may write them; root may not write a bind-mounted one (on docker,
			// root may write the copies in the container's own layer, as with Docker Compose).
			for _, path := range []string{"/run/secrets/db_pw", "/run/secrets/api_key", "/app_conf"} {
				if r := p.CompQuiet("exec", "-T", "--user", "2000", "db", "sh", "-c", "echo x > "+path); r.ExitCode == 0 {
					t.Errorf("%s is writable by user 2000 in the container", path)
				}
				if p.Runtime == "docker" && path != "/run/secrets/db_pw" {
					continue
				}
				if r := p.CompQuiet("exec", "-T", "db", "sh", "-c", "echo x > "+path); r.ExitCode == 0 {
					t.Errorf("%s is writable by root in the container", path)
				}
			}

			// A bind-mounted file is live; the others are copies made at creation.
			writeProjectFile(t, p, "db_pw.txt", dbPassword+"-rotated", 0o644)
			if got := exec(`cat "$DB_PASSWORD_FILE"`); got != dbPassword+"-rotated" {
				t.Errorf("after the host file changed: %q, want the new content", got)
			}

			before := ids(t, p.PS(false), 1)
			made := slices.Collect(maps.Values(before))
			again := p.MustComp("up", "-d")
			if after := ids(t, p.PS(false), 1); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a second up recreated the container: %v, then %v", before, after)
			}
			// A changed content is not in Compose's config hash; comp recreates all the same.
			p.Write(fmt.Sprintf(secretsCompose, "9090"))
			changed := p.MustComp("up", "-d")
			if after := ids(t, p.PS(false), 1); fmt.Sprint(after) == fmt.Sprint(before) {
				t.Errorf("up after the config's content changed kept the container %v", after)
			}
			if got := exec("cat /app_conf"); got != "listen 9090" {
				t.Errorf("after the config changed: cat /app_conf = %q, want listen 9090", got)
			}
			made = append(made, slices.Collect(maps.Values(ids(t, p.PS(false), 1)))...)
			// The files comp wrote for the containers go with them.
			defer downLeavesNothing(t, p, made...)

			for _, r := range []e2e.Result{up, again, changed} {
				for _, secret := range []string{dbPassword, apiKey} {
					if strings.Contains(r.Stdout+r.Stderr, secret) {
						t.Errorf("%v prints the secret %q:\n%s", r.Args, secret, r)
					}
				}
			}
			if p.Runtime == "docker" {
				out, err := e2e.Docker("inspect", "--format", "{{json .Config.Labels}}", p.ContainerName("db", 1))
				if err != nil {
					t.Fatal(err)
				}
				var labels map[string]string
				if err := json.Unmarshal([]byte(out), &labels); err != nil {
					t.Fatalf("labels %q: %v", out, err)
				}
				for k, v := range labels {
					if strings.Contains(v, apiKey) || strings.Contains(v, "listen") {
						t.Errorf("label %s=%q holds a secret's or config's content", k, v)
					}
				}
			}
		},
	},
	{
		// What cannot be honoured stops `up` before anything is made, naming the key: no
		// container, network or volume of the project is left.
		name: "a missing secret file, an external secret or an unset variable is refused, creating nothing",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    volumes: [data:/data]
  web:
    image: ${REGISTRY}/busybox:latest
    secrets: [db_pw]
volumes:
  data: {}
secrets:
  db_pw:
    file: ./no-such-secret.txt
`,
		run: func(t *testing.T, p *e2e.Project) {
			for _, c := range []struct {
				what, secret string
				says         []string
			}{
				{"a missing file", "file: ./no-such-secret.txt",
					[]string{"secrets.db_pw.file", filepath.Join(p.Dir, "no-such-secret.txt"), "does not exist"}},
				{"an external secret", "external: true",
					[]string{"secrets.db_pw.external", "file: or environment:"}},
				{"an unset variable", "environment: COMP_E2E_UNSET_SECRET",
					[]string{"secrets.db_pw.environment", "COMP_E2E_UNSET_SECRET", "not set"}},
			} {
				p.Write(fmt.Sprintf(`
services:
  db:
    image: ${REGISTRY}/busybox:latest
    volumes: [data:/data]
  web:
    image: ${REGISTRY}/busybox:latest
    secrets: [db_pw]
volumes:
  data: {}
secrets:
  db_pw:
    %s
`, c.secret))
				r := p.Comp("up", "-d")
				if r.ExitCode <= 0 {
					t.Errorf("%s: up exits %d, want an error", c.what, r.ExitCode)
				}
				for _, s := range c.says {
					if !strings.Contains(r.Stderr, s) {
						t.Errorf("%s: stderr does not say %q:\n%s", c.what, s, r.Stderr)
					}
				}
				requireNothingCreated(t, p, c.what)
			}
		},
	},
	{
		// The docker runtime copies content into the container, which a read-only root forbids
		// (Docker Compose refuses it too); the embedded runtime bind-mounts a file it wrote.
		name: "a secret from the environment in a read_only service",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    read_only: true
    secrets: [api_key]
secrets:
  api_key:
    environment: API_KEY
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.Env = append(p.Env, "API_KEY="+apiKey)
			if p.Runtime == "docker" {
				r := p.Comp("up", "-d")
				if r.ExitCode <= 0 || !strings.Contains(r.Stderr, "secret api_key") || !strings.Contains(r.Stderr, "read_only") {
					t.Errorf("up: exit %d, want a refusal naming secret api_key and read_only:\n%s", r.ExitCode, r.Stderr)
				}
				requireNothingCreated(t, p, "read_only")
				return
			}
			p.MustComp("up", "-d")
			r := p.MustComp("exec", "-T", "app", "sh", "-c", "stat -c '%u %g %a' /run/secrets/api_key; cat /run/secrets/api_key")
			if got, want := strings.Fields(r.Stdout), []string{"0", "0", "444", apiKey}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("in the read_only container: %q, want %q", got, want)
			}
		},
	},
}

func init() { scenarios = append(scenarios, secretsScenarios...) }

// writeProjectFile writes name in p's folder with mode.
func writeProjectFile(t *testing.T, p *e2e.Project, name, content string, mode os.FileMode) {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
