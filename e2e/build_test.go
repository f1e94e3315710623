package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
)

// buildScenarios build images from Dockerfiles, on every runtime: Docker's engine builds on
// Docker, comp's own builder on the embedded runtime.
var buildScenarios = []scenario{
	{
		name: "build: a multi-stage Dockerfile with ARGs, then a cache hit",
		compose: `
services:
  app:
    build:
      context: ./app
      args:
        GREETING: hello from the build
    command: ["sh", "-c", "cat /greeting; test ! -e /secret.txt && echo ignored file absent; trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"Dockerfile": `ARG BASE=${REGISTRY}/busybox:latest
FROM ${REGISTRY}/busybox:latest AS builder
ARG GREETING=unset
RUN echo "$GREETING" > /built
COPY . /src
RUN rm -f /src/Dockerfile

FROM ${REGISTRY}/busybox:latest
COPY --from=builder /built /greeting
COPY --from=builder /src /src
`,
				"note.txt":      "copied",
				"secret.txt":    "must not be sent",
				".dockerignore": "secret.txt\n",
			})
			// The registry address is only known at run time: write it into the Dockerfile.
			df := filepath.Join(p.Dir, "app", "Dockerfile")
			b, _ := os.ReadFile(df)
			os.WriteFile(df, []byte(strings.ReplaceAll(string(b), "${REGISTRY}", os.Getenv(e2e.RegistryEnv))), 0o644)
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app") })

			p.MustComp("up", "-d", "--build")
			e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				out := p.CompQuiet("logs", "--no-log-prefix", "app").Stdout
				if !strings.Contains(out, "hello from the build") || !strings.Contains(out, "ignored file absent") {
					return fmt.Errorf("app says %q", out)
				}
				return nil
			})
			if r := p.MustComp("exec", "-T", "app", "cat", "/src/note.txt"); r.Stdout != "copied" {
				t.Errorf("COPY --from: %q", r.Stdout)
			}
			// Nothing changed: the second build hits the cache, so it makes the very same image
			// (a RUN run again would make a new layer), and up recreates nothing.
			before := ids(t, p.PS(false), 1)
			p.MustComp("build", "app")
			p.MustComp("up", "-d")
			if after := ids(t, p.PS(false), 1); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("an unchanged rebuild recreated the container: %v -> %v", before, after)
			}
			// A changed context rebuilds and recreates.
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{"note.txt": "changed"})
			p.MustComp("up", "-d", "--build")
			if r := p.MustComp("exec", "-T", "app", "cat", "/src/note.txt"); r.Stdout != "changed" {
				t.Errorf("after a changed context: %q", r.Stdout)
			}
		},
	},
	{
		name: "build: a failing instruction names the Dockerfile line",
		compose: `
services:
  app:
    build: ./app
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\n\nRUN echo fine\nRUN echo about to fail && exit 3\n",
			})
			r := p.Comp("up", "-d")
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, "Dockerfile:4") {
				t.Errorf("up with a failing build: exit %d, want an error naming Dockerfile:4:\n%s", r.ExitCode, r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("a failed build created containers: %+v", cs)
			}
		},
	},
	{
		name: "build: a Dockerfile's own .dockerignore wins over the context's",
		compose: `
services:
  app:
    build:
      context: ./app
      dockerfile: app.Dockerfile
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"app.Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\nCOPY . /src\n",
				// As BuildKit does, the rules beside the Dockerfile replace the context's.
				"app.Dockerfile.dockerignore": "b.txt\napp.Dockerfile*\n.dockerignore\n",
				".dockerignore":               "a.txt\n",
				"a.txt":                       "kept",
				"b.txt":                       "ignored",
			})
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app") })

			p.MustComp("build", "app")
			if r := p.MustComp("run", "--rm", "-T", "app", "ls", "-A", "/src"); r.Stdout != "a.txt\n" {
				t.Errorf("the image's /src holds %q, want only a.txt", r.Stdout)
			}
		},
	},
}

func init() { scenarios = append(scenarios, buildScenarios...) }

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The quickstart comes up offline on the embedded runtime, as README's first command does:
// its Go programs compiled on the host, its images built FROM scratch, answering on its port,
// and gone with down --volumes.
func TestQuickstartOffline(t *testing.T) {
	e2e.RequireRuntime(t, "embedded")
	root, err := filepath.Abs("../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, prog := range []string{"web", "worker"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, prog, prog), "./"+prog)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", prog, err, out)
		}
		df, err := os.ReadFile(filepath.Join(root, prog, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, filepath.Join(dir, prog), map[string]string{"Dockerfile": string(df)})
	}
	compose, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A free host port instead of 8080, which the machine may use.
	port := freePort(t)
	p := e2e.NewProject(t, "embedded", "quickstart", strings.Replace(string(compose), `"8080:8080"`, fmt.Sprintf(`"127.0.0.1:%d:8080"`, port), 1))
	for _, prog := range []string{"web", "worker"} {
		os.Rename(filepath.Join(dir, prog), filepath.Join(p.Dir, prog))
	}
	t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-web", p.Name+"-worker") })
	p.MustComp("up", "-d", "--build", "--wait", "--wait-timeout", "60")
	var body string
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		var err error
		body, err = e2e.HTTPGet(fmt.Sprintf("127.0.0.1:%d", port), "/")
		return err
	})
	if !strings.Contains(body, "visit number") {
		t.Errorf("the quickstart answers %q", body)
	}
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		if out := p.CompQuiet("logs", "worker").Stdout; !strings.Contains(out, "said: Hello") {
			return fmt.Errorf("worker: %q", out)
		}
		return nil
	})
	p.MustComp("down", "--volumes")
	if cs := p.PS(true); len(cs) != 0 {
		t.Errorf("after down: %+v", cs)
	}
	if vs := p.MustComp("volume", "ls", "-q").Stdout; strings.Contains(vs, p.Name+"_visits") {
		t.Errorf("down --volumes kept the volume: %q", vs)
	}
}

// freePort is a TCP port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
