package e2e_test

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
	"github.com/comp-dev/comp/internal/testimage"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// scenario is one behaviour a user would recognise, checked through the comp CLI only (the
// docker CLI is used for extra checks on the docker runtime alone).
type scenario struct {
	name string
	// needs lists features (keys of e2e.Features) a runtime must have to run the scenario.
	needs []string
	// compose is the first compose.yaml; images are ${REGISTRY}/busybox:TAG.
	compose string
	run     func(t *testing.T, p *e2e.Project)
}

// TestScenarios runs every scenario on every runtime.
func TestScenarios(t *testing.T) {
	for _, rt := range e2e.Runtimes() {
		for _, sc := range scenarios {
			t.Run(rt+"/"+sc.name, func(t *testing.T) {
				e2e.RequireFeatures(t, rt, sc.needs...)
				e2e.RequireRuntime(t, rt)
				p := e2e.NewProject(t, rt, sc.name, sc.compose)
				sc.run(t, p)
			})
		}
	}
}

// Long-running services trap SIGTERM so that stopping them takes no grace period: a shell as
// PID 1 would ignore it otherwise.
var scenarios = []scenario{
	{
		name: "depends_on chain starts in order",
		compose: `
services:
  db:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo db >> /data/order; sleep 3600 & wait"]
    volumes: ["shared:/data"]
  api:
    image: ${REGISTRY}/busybox:latest
    depends_on: [db]
    command: ["sh", "-c", "trap 'exit 0' TERM; echo api >> /data/order; sleep 3600 & wait"]
    volumes: ["shared:/data"]
  web:
    image: ${REGISTRY}/busybox:latest
    depends_on: [api]
    command: ["sh", "-c", "trap 'exit 0' TERM; echo web >> /data/order; httpd -f -p 8080 -h /www & wait"]
    volumes: ["shared:/data"]
volumes:
  shared: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			services := strings.Fields(p.MustComp("config", "--services").Stdout)
			if want := []string{"api", "db", "web"}; !slices.Equal(sorted(services), want) {
				t.Errorf("config --services = %q, want %q in any order", services, want)
			}

			p.MustComp("up", "-d")
			cs := p.PS(false)
			if len(cs) != 3 {
				t.Fatalf("ps lists %d containers, want 3: %+v", len(cs), cs)
			}
			for _, svc := range []string{"db", "api", "web"} {
				c, ok := byName(cs)[p.ContainerName(svc, 1)]
				if !ok || c.Service != svc || c.State != "running" {
					t.Errorf("container %s: %+v (found %v), want service %s running", p.ContainerName(svc, 1), c, ok, svc)
				}
			}

			// Each service appends its name as it starts; wait for the three lines, since
			// `up -d` returns once the last container started, not once its shell ran.
			var order []string
			e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
				r := p.CompQuiet("exec", "-T", "db", "cat", "/data/order")
				if r.ExitCode != 0 {
					return fmt.Errorf("%s", r)
				}
				if order = strings.Fields(r.Stdout); len(order) < 3 {
					return fmt.Errorf("/data/order holds %q", order)
				}
				return nil
			})
			if want := []string{"db", "api", "web"}; !slices.Equal(order, want) {
				t.Errorf("start order %q, want %q", order, want)
			}
		},
	},
	{
		name:    "second up changes nothing",
		compose: twoServices,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			before := ids(t, p.PS(false), 2)

			r := p.MustComp("up", "-d")
			after := ids(t, p.PS(false), 2)
			if !maps.Equal(before, after) {
				t.Errorf("containers changed: before %v, after %v", before, after)
			}
			for name := range before {
				if !e2e.HasProgress(r.Stderr, "Container", name, "Running") {
					t.Errorf("second up does not say `Container %s Running`:\n%s", name, r.Stderr)
				}
				if e2e.HasProgress(r.Stderr, "Container", name, "Recreate", "Recreated", "Created", "Started") {
					t.Errorf("second up acted on %s:\n%s", name, r.Stderr)
				}
			}
		},
	},
	{
		name:    "recreates only the changed service",
		compose: twoServices,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			before := ids(t, p.PS(false), 2)

			p.Write(strings.Replace(twoServices, `FOO: "1" # b`, `FOO: "2" # b`, 1))
			r := p.MustComp("up", "-d")
			after := ids(t, p.PS(false), 2)

			a, b := p.ContainerName("a", 1), p.ContainerName("b", 1)
			if before[a] != after[a] {
				t.Errorf("unchanged service a was recreated: %s -> %s", before[a], after[a])
			}
			if before[b] == after[b] {
				t.Errorf("changed service b kept container %s", before[b])
			}
			if !e2e.HasProgress(r.Stderr, "Container", b, "Recreate", "Recreated") {
				t.Errorf("up does not say it recreates %s:\n%s", b, r.Stderr)
			}
			if e2e.HasProgress(r.Stderr, "Container", a, "Recreate", "Recreated") {
				t.Errorf("up says it recreates unchanged %s:\n%s", a, r.Stderr)
			}
			if env := p.MustComp("exec", "-T", "b", "env").Stdout; !hasLine(env, "FOO=2") {
				t.Errorf("recreated b lacks FOO=2 in its environment:\n%s", env)
			}
		},
	},
	{
		name: "recreates when the image changes",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			before := ids(t, p.PS(false), 1)

			p.Write(`
services:
  app:
    image: ${REGISTRY}/busybox:v2
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`)
			r := p.MustComp("up", "-d")
			after := ids(t, p.PS(false), 1)
			name := p.ContainerName("app", 1)
			if before[name] == after[name] {
				t.Errorf("app kept container %s after its image changed", before[name])
			}
			if !e2e.HasProgress(r.Stderr, "Container", name, "Recreate", "Recreated") {
				t.Errorf("up does not say it recreates %s:\n%s", name, r.Stderr)
			}
			if p.Runtime == "docker" {
				label := "{{index .Config.Labels " + strconv.Quote(e2e.VariantLabel) + "}}"
				if out, err := e2e.Docker("inspect", "--format", label, name); err != nil || strings.TrimSpace(out) != "v2" {
					t.Errorf("%s runs variant %q (%v), want v2", name, strings.TrimSpace(out), err)
				}
			}
		},
	},
	{
		name: "named volume outlives down until down -v",
		compose: `
services:
  store:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: ["data:/data"]
volumes:
  data: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			p.MustComp("exec", "-T", "store", "sh", "-c", "echo kept > /data/file")

			p.MustComp("down", "-t", "1")
			p.MustComp("up", "-d")
			if got := p.MustComp("exec", "-T", "store", "cat", "/data/file").Stdout; got != "kept\n" {
				t.Errorf("after down and up, /data/file holds %q, want %q", got, "kept\n")
			}

			p.MustComp("down", "-v", "-t", "1")
			if p.Runtime == "docker" {
				if vols := dockerLabelled(t, "volume", p.Name); len(vols) != 0 {
					t.Errorf("down -v left volumes %q", vols)
				}
			}
			p.MustComp("up", "-d")
			if r := p.Comp("exec", "-T", "store", "test", "-e", "/data/file"); r.ExitCode != 1 {
				t.Errorf("after down -v and up, /data/file still exists or exec failed: exit %d", r.ExitCode)
			}
		},
	},
	{
		name: "volumes_from shares a service's volumes and binds, read-only with :ro",
		compose: `
services:
  store:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: ["data:/data", "./shared:/shared"]
  writer:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes_from: [store]
  reader:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes_from: ["store:ro"]
    volumes: ["own:/data"]
volumes:
  data: {}
  own: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			p.MustComp("exec", "-T", "store", "sh", "-c", "echo from-store > /data/file && echo bound > /shared/file")
			if got := p.MustComp("exec", "-T", "writer", "cat", "/data/file", "/shared/file").Stdout; got != "from-store\nbound\n" {
				t.Errorf("writer sees %q in store's volume and bind, want %q", got, "from-store\nbound\n")
			}
			p.MustComp("exec", "-T", "writer", "sh", "-c", "echo from-writer > /data/other")
			if got := p.MustComp("exec", "-T", "store", "cat", "/data/other").Stdout; got != "from-writer\n" {
				t.Errorf("store sees %q of writer's write, want %q", got, "from-writer\n")
			}
			if r := p.Comp("exec", "-T", "reader", "sh", "-c", "echo no > /shared/other"); r.ExitCode == 0 {
				t.Error("reader wrote to store's bind through volumes_from :ro")
			}
			if got := p.MustComp("exec", "-T", "reader", "cat", "/shared/file").Stdout; got != "bound\n" {
				t.Errorf("reader sees %q in store's bind, want %q", got, "bound\n")
			}
			// reader's own volume at /data wins over store's.
			if r := p.Comp("exec", "-T", "reader", "test", "-e", "/data/file"); r.ExitCode != 1 {
				t.Errorf("reader's /data is store's volume, not its own (test -e exit %d)", r.ExitCode)
			}
		},
	},
	{
		name: "run -T passes piped input to the container and ends it at end of input",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.CompInput("one\ntwo\n", "run", "--rm", "-T", "app", "sh", "-c", "cat; echo done")
			if r.ExitCode != 0 || r.Stdout != "one\ntwo\ndone\n" {
				t.Errorf("run -T with piped input: exit %d, output %q; want the input echoed, then done", r.ExitCode, r.Stdout)
			}
			// More than a pipe holds: comp must keep writing while the container reads.
			big := strings.Repeat("0123456789abcdef", 20000)
			if r := p.CompInput(big, "run", "--rm", "-T", "app", "wc", "-c"); r.ExitCode != 0 || strings.TrimSpace(r.Stdout) != strconv.Itoa(len(big)) {
				t.Errorf("run -T with %d bytes of input: exit %d, wc -c says %q", len(big), r.ExitCode, strings.TrimSpace(r.Stdout))
			}
			// Without input (standard input is /dev/null) the container reads end of input at once.
			if r := p.Comp("run", "--rm", "-T", "app", "sh", "-c", "cat; echo done"); r.ExitCode != 0 || r.Stdout != "done\n" {
				t.Errorf("run -T without input: exit %d, output %q; want done", r.ExitCode, r.Stdout)
			}
			// -i=false: the container's input is empty, whatever comp's is.
			if r := p.CompInput("ignored\n", "run", "--rm", "-T", "--interactive=false", "app", "sh", "-c", "cat; echo done"); r.ExitCode != 0 || r.Stdout != "done\n" {
				t.Errorf("run -T -i=false: exit %d, output %q; want done alone", r.ExitCode, r.Stdout)
			}
		},
	},
	{
		name: "run from a terminal gives the container one: keys reach it, and it is comp's size",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			want := fmt.Sprintf("%d %d", e2e.TerminalRows, e2e.TerminalCols)
			// The size is set just after the start: the script gives it a bounded while.
			script := `tty; echo ready; read line; echo "got:$line"; i=0
while [ "$(stty size)" != "` + want + `" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
echo "size:$(stty size)"`
			term := p.StartTerminal("run", "--rm", "app", "sh", "-c", script)
			term.Expect("ready", 30*time.Second)
			term.Type("hello\r")
			r := term.Wait()
			out := strings.ReplaceAll(r.Stdout, "\r", "")
			if r.ExitCode != 0 || !hasLine(out, "got:hello") || !strings.Contains(out, "/dev/pts/") || !hasLine(out, "size:"+want) {
				t.Errorf("run on a terminal: exit %d; want /dev/pts/…, got:hello and size:%s in:\n%s", r.ExitCode, want, out)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("run --rm left containers: %+v", cs)
			}
		},
	},
	{
		name: "a container name another project holds is refused until it is freed",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			fixed := p.Name + "-fixed"
			yaml := fmt.Sprintf(`
services:
  app:
    image: ${REGISTRY}/busybox:latest
    container_name: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`, fixed)
			p.Write(yaml)
			p.MustComp("up", "-d")
			other := e2e.NewProject(t, p.Runtime, "name clash, other project", yaml)
			r := other.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, "already in use") || !strings.Contains(r.Stderr, fixed) {
				t.Errorf("up of another project with container_name %s: exit %d, want an error saying the name is in use:\n%s", fixed, r.ExitCode, r.Stderr)
			}
			p.MustComp("down", "-t", "0")
			other.MustComp("up", "-d")
			if ps := other.PS(false); len(ps) != 1 || ps[0].Name != fixed {
				t.Errorf("after the first project's down, the other runs %+v; want %s", ps, fixed)
			}
		},
	},
	{
		name:  "services reach each other by name",
		needs: []string{"bridge"},
		compose: `
services:
  server:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    networks: [backend]
  client:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [backend]
networks:
  backend: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				r := p.CompQuiet("exec", "-T", "client", "wget", "-qO-", "http://server:8080/")
				if r.ExitCode != 0 {
					return fmt.Errorf("%s", r)
				}
				if r.Stdout != testimage.IndexHTML {
					return fmt.Errorf("got %q, want %q", r.Stdout, testimage.IndexHTML)
				}
				return nil
			})
			if p.Runtime == "docker" {
				if _, err := e2e.Docker("network", "inspect", p.ObjectName("backend")); err != nil {
					t.Errorf("network %s: %v", p.ObjectName("backend"), err)
				}
			}
		},
	},
	{
		name:  "publishes a port on the host",
		needs: []string{"bridge"},
		compose: `
services:
  server:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    ports: ["127.0.0.1::8080"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			addr := strings.TrimSpace(p.MustComp("port", "server", "8080").Stdout)
			m := regexp.MustCompile(`^(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)$`).FindStringSubmatch(addr)
			if m == nil {
				t.Fatalf("port server 8080 printed %q, want 127.0.0.1:PORT", addr)
			}
			port, _ := strconv.Atoi(m[1])

			published := false
			for _, c := range p.PS(false) {
				for _, pub := range c.Publishers {
					published = published || (pub.TargetPort == 8080 && pub.PublishedPort == port)
				}
			}
			if !published {
				t.Errorf("ps --format json shows no publisher 8080 -> %d", port)
			}

			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				body, err := e2e.HTTPGet(addr, "/")
				if err != nil {
					return err
				}
				if body != testimage.IndexHTML {
					return fmt.Errorf("got %q, want %q", body, testimage.IndexHTML)
				}
				return nil
			})
		},
	},
	{
		name: "logs -f follows a restarted container",
		compose: `
services:
  ticker:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo start $$(cat /proc/sys/kernel/random/uuid); trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
				r := p.CompQuiet("logs", "--no-color", "--no-log-prefix", "ticker")
				if n := len(startLines(r.Stdout)); r.ExitCode != 0 || n != 1 {
					return fmt.Errorf("want one start line: %s", r)
				}
				return nil
			})

			follow := p.Start("logs", "-f", "--no-color", "ticker")
			waitStarts(t, follow, 1)
			p.MustComp("restart", "-t", "1", "ticker")
			waitStarts(t, follow, 2)
		},
	},
	{
		name: "rejects bad input before creating anything",
		compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			for _, c := range []struct {
				what, compose, stderr string
			}{{
				what: "an unknown service in depends_on",
				compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
    depends_on: [nosuch]
`,
				stderr: "nosuch",
			}, {
				what: "a dependency cycle",
				compose: `
services:
  a:
    image: ${REGISTRY}/busybox:latest
    depends_on: [b]
  b:
    image: ${REGISTRY}/busybox:latest
    depends_on: [c]
  c:
    image: ${REGISTRY}/busybox:latest
    depends_on: [a]
`,
				stderr: "dependency cycle detected",
			}, {
				what: "invalid YAML",
				compose: `
services:
  web:
    image: [${REGISTRY}/busybox:latest
`,
				stderr: "compose.yaml",
			}, {
				what: "container_name with scale 2",
				compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
    container_name: fixed
    scale: 2
`,
				stderr: "container_name",
			}, {
				what: "volumes_from a container that does not exist",
				compose: `
services:
  a:
    image: ${REGISTRY}/busybox:latest
    volumes: [data:/data]
  web:
    image: ${REGISTRY}/busybox:latest
    volumes_from: ["container:no-such-container-anywhere"]
volumes:
  data: {}
`,
				stderr: "services.web.volumes_from",
			}, {
				what: "a volumes_from mode",
				compose: `
services:
  a:
    image: ${REGISTRY}/busybox:latest
  web:
    image: ${REGISTRY}/busybox:latest
    volumes_from: ["a:xx"]
`,
				stderr: "ro or rw",
			}} {
				p.Write(c.compose)
				r := p.Comp("up", "-d")
				if r.ExitCode <= 0 {
					t.Errorf("%s: up exits %d, want an error", c.what, r.ExitCode)
				}
				if !strings.Contains(r.Stderr, c.stderr) {
					t.Errorf("%s: stderr does not mention %q:\n%s", c.what, c.stderr, r.Stderr)
				}
			}

			// ps needs a valid file; this one names every service used above.
			p.Write(`
services:
  web: {image: "${REGISTRY}/busybox:latest"}
  a: {image: "${REGISTRY}/busybox:latest"}
  b: {image: "${REGISTRY}/busybox:latest"}
  c: {image: "${REGISTRY}/busybox:latest"}
`)
			requireNothingCreated(t, p, "rejected ups")
		},
	},
	{
		name: "refuses a taken host port and an image it cannot pull, creating nothing",
		compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			p.Write(fmt.Sprintf(`
services:
  web:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    ports: ["127.0.0.1:%d:8080"]
`, port))
			r := p.Comp("up", "-d")
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, strconv.Itoa(port)) || !strings.Contains(r.Stderr, "already in use") {
				t.Errorf("up with a taken port: exit %d, want an error naming port %d:\n%s", r.ExitCode, port, r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("up with a taken port created containers: %+v", cs)
			}

			p.Write(`
services:
  web:
    image: ${REGISTRY}/nosuchimage:latest
`)
			r = p.Comp("up", "-d")
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, "nosuchimage") {
				t.Errorf("up with an image that cannot be pulled: exit %d, want an error naming it:\n%s", r.ExitCode, r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("up with a missing image created containers: %+v", cs)
			}
		},
	},
	{
		name: "attached up streams every container's output until all exit",
		compose: `
services:
  first:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo hello from first"]
  second:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "echo hello from second; exit 3"]
    depends_on: [first]
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "--no-color")
			if r.ExitCode != 0 {
				t.Fatalf("attached up exits %d:\n%s", r.ExitCode, r)
			}
			for _, line := range []string{
				"first-1   | hello from first",
				"second-1  | hello from second",
				"first-1 exited with code 0",
				"second-1 exited with code 3",
			} {
				if !hasLine(r.Stdout, line) {
					t.Errorf("attached up does not print %q:\n%s", line, r.Stdout)
				}
			}
			if strings.Count(r.Stdout, "exited with code") != 2 {
				t.Errorf("attached up reports %d exits, want one per container:\n%s", strings.Count(r.Stdout, "exited with code"), r.Stdout)
			}
			if !strings.Contains(r.Stdout, "Attaching to first-1, second-1") {
				t.Errorf("attached up does not say what it attaches to:\n%s", r.Stdout)
			}
		},
	},
	{
		name: "a command missing from the image is exit 127, as on Docker",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["nosuchcommand"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.Comp("up", "-d")
			if r.ExitCode <= 0 || !strings.Contains(r.Stderr, "nosuchcommand") {
				t.Errorf("up of a missing command: exit %d, want an error naming it:\n%s", r.ExitCode, r.Stderr)
			}
			cs := p.PS(true)
			if len(cs) != 1 || cs[0].ExitCode != 127 {
				t.Errorf("ps -a: %+v, want one container with exit code 127", cs)
			}
		},
	},
	{
		name: "run --rm and exec report their command",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			r := p.MustComp("run", "--rm", "app", "echo", "hello")
			if !hasLine(strings.ReplaceAll(r.Stdout, "\r", ""), "hello") {
				t.Errorf("run printed %q, want a line hello", r.Stdout)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("run --rm left containers: %+v", cs)
			}
			if p.Runtime == "docker" {
				if objs := dockerLabelled(t, "container", p.Name); len(objs) != 0 {
					t.Errorf("run --rm left containers %q", objs)
				}
			}

			p.MustComp("up", "-d")
			if r := p.Comp("exec", "-T", "app", "sh", "-c", "exit 3"); r.ExitCode != 3 {
				t.Errorf("exec of `exit 3` exits %d, want 3", r.ExitCode)
			}

			// exec -d returns while its command runs on: it waits for a file exec makes next.
			p.MustComp("exec", "-d", "app", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.02; done; echo ran > /tmp/done")
			p.MustComp("exec", "-T", "app", "touch", "/tmp/go")
			e2e.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				if r := p.CompQuiet("exec", "-T", "app", "cat", "/tmp/done"); r.ExitCode != 0 || r.Stdout != "ran\n" {
					return fmt.Errorf("/tmp/done: exit %d, %q", r.ExitCode, r.Stdout)
				}
				return nil
			})
			// A detached command still running does not keep the container from stopping, and
			// down leaves nothing of it.
			p.MustComp("exec", "-d", "app", "sleep", "300")
			running := p.PS(true)
			if p.Runtime == "embedded" && len(embeddedHeld(running)) == 0 {
				t.Fatal("the leak check sees nothing of the running container: it cannot catch a leak")
			}
			p.MustComp("down", "-t", "1")
			if left := embeddedHeld(running); p.Runtime == "embedded" && len(left) > 0 {
				t.Errorf("down left behind:\n%s", strings.Join(left, "\n"))
			}
		},
	},
	{
		name: "down removes containers and network",
		// b depends on a: down stops b before a, and each removal overlaps the next stop.
		compose: twoServices + `    depends_on: [a]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			names := ids(t, p.PS(true), 2)
			network := p.ObjectName("default")
			if p.Runtime == "docker" {
				if _, err := e2e.Docker("network", "inspect", network); err != nil {
					t.Errorf("up did not create network %s: %v", network, err)
				}
			}

			var containerIDs []string
			for _, id := range names {
				containerIDs = append(containerIDs, id)
			}
			nets := []string{network}
			if p.Runtime == "embedded" {
				if len(e2e.EmbeddedLeftovers(containerIDs)) == 0 || len(e2e.EmbeddedNetworkLeftovers(nets, containerIDs)) == 0 {
					t.Fatal("the leak checks see nothing of running containers: they cannot catch a leak")
				}
			}
			r := p.MustComp("down", "-t", "1")
			if p.Runtime == "embedded" {
				left := append(e2e.EmbeddedLeftovers(containerIDs), e2e.EmbeddedNetworkLeftovers(nets, containerIDs)...)
				if len(left) > 0 {
					t.Errorf("down left behind:\n%s", strings.Join(left, "\n"))
				}
			}
			for name := range names {
				if !e2e.HasProgress(r.Stderr, "Container", name, "Removed") {
					t.Errorf("down does not say `Container %s Removed`:\n%s", name, r.Stderr)
				}
			}
			// Dependents stop first, as Compose orders them.
			stoppedB := regexp.MustCompile(`(?m)^\s*Container\s+` + regexp.QuoteMeta(p.ContainerName("b", 1)) + `\s+Stopped`).FindStringIndex(r.Stderr)
			stoppingA := regexp.MustCompile(`(?m)^\s*Container\s+` + regexp.QuoteMeta(p.ContainerName("a", 1)) + `\s+Stopping`).FindStringIndex(r.Stderr)
			if stoppedB == nil || stoppingA == nil || stoppingA[0] < stoppedB[0] {
				t.Errorf("down did not stop b (which depends on a) before a:\n%s", r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("ps -a after down lists %+v", cs)
			}
			if p.Runtime == "docker" {
				if !e2e.HasProgress(r.Stderr, "Network", network, "Removed") {
					t.Errorf("down does not say `Network %s Removed`:\n%s", network, r.Stderr)
				}
				for _, kind := range []string{"container", "network"} {
					if objs := dockerLabelled(t, kind, p.Name); len(objs) != 0 {
						t.Errorf("down left %ss %q", kind, objs)
					}
				}
			}
		},
	},
}

// twoServices is a project of two idle services; b's FOO is marked so a test can change it.
const twoServices = `
services:
  a:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    environment:
      FOO: "1" # a
  b:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    environment:
      FOO: "1" # b
`

// ids maps container names to IDs, failing t unless there are want containers, all running.
func ids(t *testing.T, cs []e2e.Container, want int) map[string]string {
	t.Helper()
	if len(cs) != want {
		t.Fatalf("ps lists %d containers, want %d: %+v", len(cs), want, cs)
	}
	m := map[string]string{}
	for _, c := range cs {
		if c.ID == "" || c.State != "running" {
			t.Fatalf("container %s: ID %q state %q, want an ID and running", c.Name, c.ID, c.State)
		}
		m[c.Name] = c.ID
	}
	return m
}

func byName(cs []e2e.Container) map[string]e2e.Container {
	m := map[string]e2e.Container{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func hasLine(out, line string) bool {
	return slices.Contains(strings.Split(out, "\n"), line)
}

var startLine = regexp.MustCompile(`start ([0-9a-f-]{36})`)

// startLines returns the distinct start tokens printed by the ticker service, in order.
func startLines(out string) []string {
	var tokens []string
	for _, m := range startLine.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(tokens, m[1]) {
			tokens = append(tokens, m[1])
		}
	}
	return tokens
}

// waitStarts waits until the followed logs show n distinct starts. A follower that has ended
// will show no more, so that fails at once.
func waitStarts(t *testing.T, follow *e2e.Process, n int) {
	t.Helper()
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		exited, err := follow.Exited()
		out := follow.Output() // read after the exit check, so an ended follower's output is whole
		if got := len(startLines(out)); got >= n {
			return nil
		}
		if exited {
			t.Fatalf("logs -f ended (%v) after %d of %d starts:\n%s", err, len(startLines(out)), n, out)
		}
		return fmt.Errorf("logs -f shows %d of %d starts:\n%s", len(startLines(out)), n, out)
	})
}

// dockerLabelled lists the docker objects of kind ("container", "network", "volume") carrying
// downLeavesNothing runs `down -v` and fails the test if the embedded runtime still holds
// anything of the containers ids names (mounts, cgroups, folders, libcontainer state); the
// docker runtime's leftovers are the engine's, checked by label.
func downLeavesNothing(t *testing.T, p *e2e.Project, ids ...string) {
	t.Helper()
	p.MustComp("down", "-v", "-t", "1")
	if p.Runtime == "embedded" {
		if left := e2e.EmbeddedLeftovers(ids); len(left) > 0 {
			t.Errorf("down left behind:\n%s", strings.Join(left, "\n"))
		}
	}
	requireNothingCreated(t, p, "after down")
}

// requireNothingCreated fails the test if p has a container, volume or network (what says
// after which up).
func requireNothingCreated(t *testing.T, p *e2e.Project, what string) {
	t.Helper()
	if cs := p.PS(true); len(cs) != 0 {
		t.Errorf("%s: containers were created: %+v", what, cs)
	}
	if out := p.MustComp("volume", "ls").Stdout; strings.Contains(out, p.Name) {
		t.Errorf("%s: a volume was created:\n%s", what, out)
	}
	switch p.Runtime {
	case "docker":
		for _, kind := range []string{"container", "network", "volume"} {
			if objs := dockerLabelled(t, kind, p.Name); len(objs) != 0 {
				t.Errorf("%s: %ss were created: %q", what, kind, objs)
			}
		}
	case "embedded":
		nets, _ := os.ReadFile(filepath.Join(e2e.StateRoot, "networks", "networks.json"))
		if strings.Contains(string(nets), p.Name) {
			t.Errorf("%s: a network was created: %s", what, nets)
		}
	}
}

// the project label.
func dockerLabelled(t *testing.T, kind, project string) []string {
	t.Helper()
	args := []string{kind, "ls", "-q", "--filter", "label=" + e2e.ProjectLabel + "=" + project}
	if kind == "container" {
		args = append(args, "-a")
	}
	out, err := e2e.DockerLines(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An engine that cannot be reached is one clear error that says what to do, on the runtime
// that has an engine to reach.
func TestDockerEngineUnreachable(t *testing.T) {
	p := e2e.NewProject(t, "docker", "unreachable", `
services:
  web:
    image: ${REGISTRY}/busybox:latest
`)
	p.Env = []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}
	r := p.Comp("up", "-d")
	if r.ExitCode <= 0 || !strings.Contains(r.Stderr, "cannot reach Docker Engine") || !strings.Contains(r.Stderr, "is dockerd running") {
		t.Errorf("up with no engine: exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	p.Env = nil
}

// embeddedHeld lists what the embedded runtime holds of containers: mounts, cgroups,
// processes (a detached exec's too), state and folders (e2e.EmbeddedLeftovers).
func embeddedHeld(containers []e2e.Container) []string {
	var ids []string
	for _, c := range containers {
		ids = append(ids, c.ID)
	}
	return e2e.EmbeddedLeftovers(ids)
}
