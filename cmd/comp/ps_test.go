package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func TestStatusText(t *testing.T) {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name string
		c    runtime.Container
		want string
	}{
		{"running less than a second", runtime.Container{State: "running", StartedAt: ago(300 * time.Millisecond)}, "Up Less than a second"},
		{"running one second", runtime.Container{State: "running", StartedAt: ago(time.Second)}, "Up 1 second"},
		{"running seconds", runtime.Container{State: "running", StartedAt: ago(5 * time.Second)}, "Up 5 seconds"},
		{"running a minute", runtime.Container{State: "running", StartedAt: ago(65 * time.Second)}, "Up About a minute"},
		{"running minutes, healthy", runtime.Container{State: "running", Health: "healthy", StartedAt: ago(2 * time.Minute)}, "Up 2 minutes (healthy)"},
		{"running, health starting", runtime.Container{State: "running", Health: "starting", StartedAt: ago(3 * time.Second)}, "Up 3 seconds (health: starting)"},
		{"running, unhealthy", runtime.Container{State: "running", Health: "unhealthy", StartedAt: ago(50 * time.Minute)}, "Up 50 minutes (unhealthy)"},
		{"running an hour", runtime.Container{State: "running", StartedAt: ago(80 * time.Minute)}, "Up About an hour"},
		{"running hours", runtime.Container{State: "running", StartedAt: ago(5 * time.Hour)}, "Up 5 hours"},
		{"running days", runtime.Container{State: "running", StartedAt: ago(72 * time.Hour)}, "Up 3 days"},
		{"running weeks", runtime.Container{State: "running", StartedAt: ago(21 * 24 * time.Hour)}, "Up 3 weeks"},
		{"running months", runtime.Container{State: "running", StartedAt: ago(90 * 24 * time.Hour)}, "Up 3 months"},
		{"running years", runtime.Container{State: "running", StartedAt: ago(800 * 24 * time.Hour)}, "Up 2 years"},
		{"paused", runtime.Container{State: "paused", StartedAt: ago(10 * time.Second)}, "Up 10 seconds (Paused)"},
		{"restarting", runtime.Container{State: "restarting", ExitCode: 1, FinishedAt: ago(2 * time.Second)}, "Restarting (1) 2 seconds ago"},
		{"exited with a code", runtime.Container{State: "exited", ExitCode: 1, StartedAt: ago(time.Minute), FinishedAt: ago(3 * time.Second)}, "Exited (1) 3 seconds ago"},
		{"exited cleanly", runtime.Container{State: "exited", StartedAt: ago(time.Hour), FinishedAt: ago(30 * time.Minute)}, "Exited (0) 30 minutes ago"},
		{"exited but never started", runtime.Container{State: "exited", ExitCode: 127}, "Created"},
		{"created", runtime.Container{State: "created"}, "Created"},
		{"dead", runtime.Container{State: "dead"}, "Dead"},
		{"being removed", runtime.Container{State: "removing"}, "Removal In Progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusText(tt.c, now); got != tt.want {
				t.Errorf("statusText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDisplayPorts(t *testing.T) {
	tests := []struct {
		name  string
		ports []runtime.Port
		want  string
	}{
		{"none", nil, ""},
		{"exposed only", []runtime.Port{{ContainerPort: 80, Protocol: "tcp"}}, "80/tcp"},
		{"published on one address", []runtime.Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
			"127.0.0.1:8080->80/tcp"},
		{"published on all interfaces", []runtime.Port{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}, "0.0.0.0:8080->80/tcp"},
		{"published on IPv4 and IPv6", []runtime.Port{
			{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: "::", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		}, "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"},
		{"same host and container port", []runtime.Port{{HostIP: "0.0.0.0", HostPort: 53, ContainerPort: 53, Protocol: "udp"}},
			"0.0.0.0:53->53/udp"},
		{"a range of same ports", []runtime.Port{
			{HostIP: "0.0.0.0", HostPort: 8002, ContainerPort: 8002, Protocol: "tcp"},
			{HostIP: "0.0.0.0", HostPort: 8000, ContainerPort: 8000, Protocol: "tcp"},
			{HostIP: "0.0.0.0", HostPort: 8001, ContainerPort: 8001, Protocol: "tcp"},
		}, "0.0.0.0:8000-8002->8000-8002/tcp"},
		{"exposed runs and gaps", []runtime.Port{
			{ContainerPort: 80, Protocol: "tcp"}, {ContainerPort: 81, Protocol: "tcp"}, {ContainerPort: 443, Protocol: "tcp"},
		}, "80-81/tcp, 443/tcp"},
		{"exposed and published", []runtime.Port{
			{ContainerPort: 9000, Protocol: "tcp"},
			{HostIP: "127.0.0.1", HostPort: 5432, ContainerPort: 5432, Protocol: "tcp"},
			{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		}, "127.0.0.1:5432->5432/tcp, 9000/tcp, 127.0.0.1:8080->80/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := displayPorts(tt.ports); got != tt.want {
				t.Errorf("displayPorts = %q, want %q", got, tt.want)
			}
		})
	}
}

// psFixture is a project with a healthy published web, a db that exited and a one-off.
func psFixture() []runtime.Container {
	web := container("demo", "web", 1, runtime.StateRunning)
	web.ID = "4f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
	web.Image = "nginx:1.27"
	web.Command = "/docker-entrypoint.sh nginx -g 'daemon off;'"
	web.Health = runtime.HealthHealthy
	web.Created = now.Add(-10 * time.Minute)
	web.StartedAt = now.Add(-2 * time.Minute)
	web.Ports = []runtime.Port{
		{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
	}
	web.Networks = map[string]runtime.ContainerNetwork{"demo_default": {}, "demo_front": {}}
	web.Mounts = []runtime.Mount{{Type: runtime.MountVolume, Source: "demo_static", Target: "/usr/share/nginx/html"}}
	web.Labels[runtime.LabelConfigHash] = "abc"

	db := container("demo", "db", 1, runtime.StateExited)
	db.ID = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
	db.Image = "postgres:16"
	db.Command = "docker-entrypoint.sh postgres"
	db.ExitCode = 1
	db.Created = now.Add(-10 * time.Minute)
	db.StartedAt = now.Add(-9 * time.Minute)
	db.FinishedAt = now.Add(-3 * time.Second)
	db.Ports = []runtime.Port{{ContainerPort: 5432, Protocol: "tcp"}}
	return []runtime.Container{db, web}
}

func TestPsJSONGolden(t *testing.T) {
	defer setLocal(time.UTC)()
	var out bytes.Buffer
	if err := printPs(&out, psFixture(), &psOptions{format: "json"}, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps.json", out.Bytes())

	// Each line is one object with the fields scripts rely on.
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		for _, key := range []string{"ID", "Name", "Service", "State", "Status", "Health", "ExitCode", "Publishers", "Project", "Image", "Command", "CreatedAt", "Labels"} {
			if _, ok := row[key]; !ok {
				t.Errorf("line %q has no %s", line, key)
			}
		}
		if _, ok := row["Publishers"].([]any); !ok {
			t.Errorf("Publishers of %v is not a list", row["Name"])
		}
	}
}

func TestPsTableGolden(t *testing.T) {
	var out bytes.Buffer
	if err := printPs(&out, psFixture(), &psOptions{format: "table"}, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps.txt", out.Bytes())
}

func TestPsQuietAndServices(t *testing.T) {
	cs := psFixture()
	var out bytes.Buffer
	if err := printPs(&out, cs, &psOptions{quiet: true}, now); err != nil {
		t.Fatal(err)
	}
	if want := cs[0].ID + "\n" + cs[1].ID + "\n"; out.String() != want {
		t.Errorf("ps -q printed %q, want the full IDs %q", out.String(), want)
	}
	out.Reset()
	if err := printPs(&out, append(cs, container("demo", "web", 2, "running")), &psOptions{services: true}, now); err != nil {
		t.Fatal(err)
	}
	if want := "db\nweb\n"; out.String() != want {
		t.Errorf("ps --services printed %q, want %q", out.String(), want)
	}
}

func TestPsTemplate(t *testing.T) {
	var out bytes.Buffer
	if err := printPs(&out, psFixture(), &psOptions{format: "{{.Name}} {{.State}}"}, now); err != nil {
		t.Fatal(err)
	}
	if want := "demo-db-1 exited\ndemo-web-1 running\n"; out.String() != want {
		t.Errorf("template output %q, want %q", out.String(), want)
	}
}

func TestEllipsis(t *testing.T) {
	if got := ellipsis("docker-entrypoint.sh postgres", 20); got != "docker-entrypoint.s…" {
		t.Errorf("ellipsis = %q", got)
	}
	if got := ellipsis("sleep 1", 20); got != "sleep 1" {
		t.Errorf("ellipsis of a short command = %q", got)
	}
}

// setLocal sets time.Local for a test and returns the function that restores it.
func setLocal(loc *time.Location) func() {
	old := time.Local
	time.Local = loc
	return func() { time.Local = old }
}
