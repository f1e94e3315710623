package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/logs"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

func TestCombinedStatus(t *testing.T) {
	tests := []struct {
		states []string
		want   string
	}{
		{[]string{"running", "running"}, "running(2)"},
		{[]string{"running", "exited", "running"}, "exited(1), running(2)"},
		{[]string{"restarting", "created", "paused"}, "created(1), paused(1), restarting(1)"},
	}
	for _, tt := range tests {
		if got := combinedStatus(tt.states); got != tt.want {
			t.Errorf("combinedStatus(%v) = %q, want %q", tt.states, got, tt.want)
		}
	}
}

func TestSummarizeProjects(t *testing.T) {
	a1 := container("alpha", "web", 1, runtime.StateRunning)
	a1.Labels[runtime.LabelConfigFiles] = "/src/alpha/compose.yaml"
	a2 := container("alpha", "db", 1, runtime.StateExited)
	a2.Labels[runtime.LabelConfigFiles] = "/src/alpha/compose.yaml"
	b := container("beta", "web", 1, runtime.StateExited)
	b.Labels[runtime.LabelConfigFiles] = "/src/beta/compose.yaml,/src/beta/compose.override.yaml"
	cs := []runtime.Container{b, a2, a1}

	t.Run("running projects by default", func(t *testing.T) {
		got := summarizeProjects(cs, false)
		want := []projectSummary{{Name: "alpha", Status: "running(1)", ConfigFiles: "/src/alpha/compose.yaml"}}
		if !slices.Equal(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("every project with -a", func(t *testing.T) {
		got := summarizeProjects(cs, true)
		want := []projectSummary{
			{Name: "alpha", Status: "exited(1), running(1)", ConfigFiles: "/src/alpha/compose.yaml"},
			{Name: "beta", Status: "exited(1)", ConfigFiles: "/src/beta/compose.yaml,/src/beta/compose.override.yaml"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("table and JSON", func(t *testing.T) {
		var out bytes.Buffer
		if err := printLs(&out, summarizeProjects(cs, true), &lsOptions{format: "table"}); err != nil {
			t.Fatal(err)
		}
		golden(t, "ls.txt", out.Bytes())
		out.Reset()
		if err := printLs(&out, nil, &lsOptions{format: "json"}); err != nil {
			t.Fatal(err)
		}
		if out.String() != "[]\n" {
			t.Errorf("no project as JSON = %q, want []", out.String())
		}
		out.Reset()
		if err := printLs(&out, summarizeProjects(cs, false), &lsOptions{format: "json"}); err != nil {
			t.Fatal(err)
		}
		if want := `[{"Name":"alpha","Status":"running(1)","ConfigFiles":"/src/alpha/compose.yaml"}]` + "\n"; out.String() != want {
			t.Errorf("JSON = %s, want %s", out.String(), want)
		}
	})
}

func TestPublishedAddress(t *testing.T) {
	c := container("demo", "web", 1, runtime.StateRunning)
	c.Ports = []runtime.Port{
		{HostIP: "::", HostPort: 32768, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: "0.0.0.0", HostPort: 32768, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		{HostPort: 9000, ContainerPort: 9000, Protocol: "tcp"},
		{HostIP: "::1", HostPort: 7000, ContainerPort: 7000, Protocol: "tcp"},
		{ContainerPort: 8080, Protocol: "tcp"},
	}
	tests := []struct {
		name    string
		port    uint16
		proto   string
		want    string
		wantErr string
	}{
		{"IPv4 preferred over IPv6", 80, "tcp", "0.0.0.0:32768", ""},
		{"udp on one address", 53, "udp", "127.0.0.1:5353", ""},
		{"all interfaces", 9000, "tcp", "0.0.0.0:9000", ""},
		{"IPv6 only", 7000, "tcp", "[::1]:7000", ""},
		{"exposed but not published", 8080, "tcp", "", "no port 8080/tcp for container demo-web-1"},
		{"wrong protocol", 80, "udp", "", "no port 80/udp for container demo-web-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publishedAddress(c, tt.port, tt.proto)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParsePrivatePort(t *testing.T) {
	if p, proto, err := parsePrivatePort("53/udp", "tcp"); err != nil || p != 53 || proto != "udp" {
		t.Errorf("53/udp = %d %s %v", p, proto, err)
	}
	if p, proto, err := parsePrivatePort("80", "tcp"); err != nil || p != 80 || proto != "tcp" {
		t.Errorf("80 = %d %s %v", p, proto, err)
	}
	for _, bad := range []string{"http", "0", "70000", "80/icmp"} {
		if _, _, err := parsePrivatePort(bad, "tcp"); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestParseTail(t *testing.T) {
	tests := map[string]int{"all": logs.TailAll, "": logs.TailAll, "-1": logs.TailAll, "0": 0, "25": 25}
	for in, want := range tests {
		if got, err := parseTail(in); err != nil || got != want {
			t.Errorf("parseTail(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseTail("ten"); err == nil {
		t.Error("--tail ten was accepted")
	}
}

func TestParseLogTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2013-01-02T13:23:37Z", time.Date(2013, 1, 2, 13, 23, 37, 0, time.UTC)},
		{"2013-01-02T13:23:37.5+02:00", time.Date(2013, 1, 2, 11, 23, 37, 5e8, time.UTC)},
		{"1700000000", time.Unix(1700000000, 0)},
	}
	for _, tt := range tests {
		got, err := parseLogTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseLogTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseLogTime("yesterday", now); err == nil {
		t.Error("yesterday was accepted")
	}
}

func TestNormalizeSignal(t *testing.T) {
	for in, want := range map[string]string{"SIGKILL": "SIGKILL", "kill": "SIGKILL", "term": "SIGTERM", "9": "9", "SIGHUP": "SIGHUP"} {
		if got, err := normalizeSignal(in); err != nil || got != want {
			t.Errorf("normalizeSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "99"} {
		if _, err := normalizeSignal(bad); err == nil {
			t.Errorf("signal %q was accepted", bad)
		}
	}
}

func TestConfirm(t *testing.T) {
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false} {
		var out bytes.Buffer
		g := &globalOptions{streams: &IOStreams{In: strings.NewReader(answer), Out: &out}}
		got, err := confirm(g, "Going to remove demo-web-1")
		if err != nil || got != want {
			t.Errorf("answer %q: %v, %v; want %v", answer, got, err, want)
		}
		if !strings.HasPrefix(out.String(), "Going to remove demo-web-1\nAre you sure? [yN] ") {
			t.Errorf("prompt = %q", out.String())
		}
	}
}

func TestPrintTop(t *testing.T) {
	var out bytes.Buffer
	printTop(&out, "demo-web-1", runtime.Top{
		Titles:    []string{"UID", "PID", "PPID", "CMD"},
		Processes: [][]string{{"root", "1", "0", "nginx: master process"}, {"nobody", "29", "1", "nginx: worker process"}},
	})
	want := "demo-web-1\n" +
		"UID      PID   PPID   CMD\n" +
		"root     1     0      nginx: master process\n" +
		"nobody   29    1      nginx: worker process\n\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestPrintVersion(t *testing.T) {
	var out bytes.Buffer
	_ = printVersion(&out, versionReport{Version: "1.2.3", Runtime: "docker",
		Server: &runtime.Info{ServerVersion: "27.0.1", APIVersion: "1.46", OS: "linux", Arch: "amd64"}}, "pretty")
	if want := "comp version 1.2.3\nRuntime: docker, server 27.0.1 (API 1.46, linux/amd64)\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	_ = printVersion(&out, versionReport{Version: "1.2.3", Runtime: "docker", Error: "cannot connect"}, "pretty")
	if want := "comp version 1.2.3\nRuntime: docker (not available: cannot connect)\n"; out.String() != want {
		t.Errorf("an unreachable runtime printed %q, want %q", out.String(), want)
	}
	out.Reset()
	_ = printVersion(&out, versionReport{Version: "1.2.3", Runtime: "embedded", Error: "not built"}, "json")
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["version"] != "1.2.3" || got["error"] != "not built" {
		t.Errorf("JSON %s: %v", out.String(), err)
	}
}

func TestImageRow(t *testing.T) {
	c := container("demo", "web", 1, runtime.StateRunning)
	c.Image = "nginx"
	img := runtime.Image{ID: "sha256:0123456789abcdef0123", RepoTags: []string{"mirror.local/nginx:1", "nginx:latest"}, Size: 187_000_000}
	row := imageRow(c, img)
	if row.Repository != "nginx" || row.Tag != "latest" {
		t.Errorf("repository %q tag %q, want the tag the container was created from", row.Repository, row.Tag)
	}
	row = imageRow(c, runtime.Image{ID: "sha256:0123456789abcdef0123"})
	if row.Repository != "<none>" || row.Tag != "<none>" {
		t.Errorf("an untagged image gave %q:%q", row.Repository, row.Tag)
	}
	if r, tag := splitTag("localhost:5000/app"); r != "localhost:5000/app" || tag != "<none>" {
		t.Errorf("splitTag of a registry port = %q %q", r, tag)
	}
	var out bytes.Buffer
	_ = printImages(&out, []containerImage{imageRow(c, img)}, &imagesOptions{format: "table"})
	want := "CONTAINER    REPOSITORY   TAG       IMAGE ID       SIZE\n" +
		"demo-web-1   nginx        latest    0123456789ab   187MB\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestConfigLists(t *testing.T) {
	p := loadProject(t, `
services:
  web:
    image: nginx
    depends_on: [db]
  db:
    image: postgres:16
  cache:
    image: redis:7
volumes:
  data: {}
networks:
  front: {}
`)
	tests := []struct {
		opts configOptions
		want string
	}{
		{configOptions{services: true}, "cache\ndb\nweb\n"},
		{configOptions{images: true}, "redis:7\npostgres:16\nnginx\n"},
		{configOptions{volumes: true}, "data\n"},
		{configOptions{networks: true}, "default\nfront\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := renderConfig(&out, p, &tt.opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%+v printed %q, want %q", tt.opts, out.String(), tt.want)
		}
	}
	var out bytes.Buffer
	if err := renderConfig(&out, p, &configOptions{format: "json"}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc["name"] != p.Name {
		t.Errorf("JSON config: %v, %v", doc["name"], err)
	}
	out.Reset()
	if err := renderConfig(&out, p, &configOptions{format: "yaml"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "services:") || !strings.Contains(out.String(), "image: postgres:16") {
		t.Errorf("YAML config:\n%s", out.String())
	}
}

func TestOneoffSpec(t *testing.T) {
	p := loadProject(t, `
services:
  web:
    image: nginx
    restart: always
    command: ["nginx", "-g", "daemon off;"]
    environment:
      MODE: prod
      KEEP: "1"
    ports: ["8080:80"]
    cap_add: [NET_ADMIN]
volumes:
  data: {}
`)
	s := p.Services["web"]
	slug := strings.Repeat("ab", 32)
	o := &runOptions{interactive: true, env: []string{"MODE=dev", "EXTRA=x"}, labels: []string{"purpose=test"},
		volumes: []string{"data:/data", "./src:/src:ro", "scratch:/scratch"}, capDrop: []string{"NET_ADMIN"}}
	spec, err := oneoffSpec(p, s, o, []string{"sh", "-c", "true"}, slug, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := p.Name + "-web-run-abababababab"; spec.Name != want {
		t.Errorf("name %s, want %s", spec.Name, want)
	}
	if spec.Labels[runtime.LabelOneoff] != "True" || spec.Labels[labelSlug] != slug || spec.Labels["purpose"] != "test" {
		t.Errorf("labels %v", spec.Labels)
	}
	if spec.Restart.Name != "no" {
		t.Errorf("restart %+v, want none for a one-off", spec.Restart)
	}
	if len(spec.Ports) != 0 {
		t.Errorf("ports %+v, want none without --service-ports", spec.Ports)
	}
	if !slices.Equal(spec.Command, []string{"sh", "-c", "true"}) {
		t.Errorf("command %v", spec.Command)
	}
	if !slices.Equal(spec.Env, []string{"KEEP=1", "MODE=dev", "EXTRA=x"}) {
		t.Errorf("env %v, want -e to override the service's", spec.Env)
	}
	if len(spec.CapAdd) != 0 || !slices.Equal(spec.CapDrop, []string{"NET_ADMIN"}) {
		t.Errorf("cap_add %v cap_drop %v", spec.CapAdd, spec.CapDrop)
	}
	if !spec.StdinOpen || spec.Tty {
		t.Errorf("stdin_open %v tty %v", spec.StdinOpen, spec.Tty)
	}
	for _, n := range spec.Networks {
		if len(n.Aliases) != 0 {
			t.Errorf("network %s has aliases %v without --use-aliases", n.Network, n.Aliases)
		}
	}
	wantMounts := []runtime.Mount{
		{Type: "volume", Source: p.Name + "_data", Target: "/data"},
		{Type: "bind", Source: filepath.Join(p.WorkingDir, "src"), Target: "/src", ReadOnly: true, CreateHostPath: true},
		{Type: "volume", Source: "scratch", Target: "/scratch"},
	}
	if !slices.Equal(spec.Mounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", spec.Mounts, wantMounts)
	}

	o = &runOptions{servicePorts: true, entrypoint: "/bin/sh -c", useAliases: true}
	spec, err = oneoffSpec(p, s, o, nil, slug, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Ports) != 1 || spec.Ports[0].HostPort != "8080" {
		t.Errorf("--service-ports gave %+v", spec.Ports)
	}
	if !slices.Equal(spec.Entrypoint, []string{"/bin/sh", "-c"}) || spec.Command == nil || len(spec.Command) != 0 {
		t.Errorf("--entrypoint gave entrypoint %q command %#v, want the command cleared", spec.Entrypoint, spec.Command)
	}
	if !spec.Tty {
		t.Error("no TTY")
	}

	o = &runOptions{name: "custom", publish: []string{"127.0.0.1:9000:90/udp"}}
	spec, err = oneoffSpec(p, s, o, nil, slug, false)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "custom" || len(spec.Ports) != 1 ||
		spec.Ports[0] != (runtime.PortSpec{HostIP: "127.0.0.1", HostPort: "9000", ContainerPort: 90, Protocol: "udp"}) {
		t.Errorf("--name and -p gave %s %+v", spec.Name, spec.Ports)
	}
}

func TestFlagParsing(t *testing.T) {
	g := &globalOptions{streams: &IOStreams{}}
	t.Run("exec stops at the service", func(t *testing.T) {
		cmd := newExecCmd(g)
		if err := cmd.ParseFlags([]string{"-T", "-e", "A=1", "web", "ls", "-la", "-e"}); err != nil {
			t.Fatal(err)
		}
		if got := cmd.Flags().Args(); !slices.Equal(got, []string{"web", "ls", "-la", "-e"}) {
			t.Errorf("args %v", got)
		}
	})
	t.Run("run stops at the service", func(t *testing.T) {
		cmd := newRunCmd(g)
		if err := cmd.ParseFlags([]string{"--rm", "-v", "a:/a", "-p", "80", "web", "sh", "-c", "echo --rm"}); err != nil {
			t.Fatal(err)
		}
		if got := cmd.Flags().Args(); !slices.Equal(got, []string{"web", "sh", "-c", "echo --rm"}) {
			t.Errorf("args %v", got)
		}
	})
	t.Run("logs tail default", func(t *testing.T) {
		cmd := newLogsCmd(g)
		if err := cmd.ParseFlags([]string{"-f", "-n", "5"}); err != nil {
			t.Fatal(err)
		}
		if v, _ := cmd.Flags().GetString("tail"); v != "5" {
			t.Errorf("tail %q", v)
		}
	})
	t.Run("every command registers", func(t *testing.T) {
		root := newRootCmd(&IOStreams{}, connectRuntime)
		var names []string
		for _, c := range root.Commands() {
			names = append(names, c.Name())
		}
		for _, want := range []string{"config", "logs", "ps", "ls", "start", "stop", "restart", "kill", "rm", "exec", "run", "pull", "images", "port", "top", "version"} {
			if !slices.Contains(names, want) {
				t.Errorf("no %s command", want)
			}
		}
	})
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"})
	if !slices.Equal(got, []string{"A=1", "B=3", "C=4"}) {
		t.Errorf("got %v", got)
	}
}

func TestResolveEnv(t *testing.T) {
	t.Setenv("COMP_TEST_SET", "yes")
	got := resolveEnv([]string{"A=1", "COMP_TEST_SET", "COMP_TEST_UNSET_VARIABLE"})
	if !slices.Equal(got, []string{"A=1", "COMP_TEST_SET=yes"}) {
		t.Errorf("got %v", got)
	}
}

// loadProject writes compose to a temporary folder and loads it as the project "demo".
func loadProject(t *testing.T, compose string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(context.Background(), project.Options{Files: []string{file}, Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseScale(t *testing.T) {
	got, err := parseScale([]string{"web=3", "db=0"})
	if err != nil || got["web"] != 3 || got["db"] != 0 || len(got) != 2 {
		t.Errorf("parseScale = %v, %v", got, err)
	}
	for _, bad := range []string{"web", "web=x", "=2"} {
		if _, err := parseScale([]string{bad}); err == nil {
			t.Errorf("--scale %q was accepted", bad)
		}
	}
}
