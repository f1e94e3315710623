package project

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func write(t *testing.T, yaml string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRefusesBadInput(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // every fragment must appear in the error
	}{
		{"invalid YAML names the file", "services:\n  web: [\n", []string{"compose.yaml"}},
		{"unknown key names the key", "services:\n  web:\n    image: busybox\n    colour: red\n", []string{"colour"}},
		{"wrong type names the key", "services:\n  web:\n    image: busybox\n    ports: 12\n", []string{"ports"}},
		{"depends_on an unknown service", "services:\n  web:\n    image: busybox\n    depends_on: [db]\n", []string{`"web"`, `"db"`}},
		{"cycle is printed", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", []string{"dependency cycle detected", "a -> b -> a"}},
		{"container_name with scale", "services:\n  web:\n    image: busybox\n    container_name: w\n    scale: 2\n", []string{"container_name", "web"}},
		{"no image and no build", "services:\n  web:\n    command: [sh]\n", []string{`"web"`, "image"}},
		{"a git URL build context", "services:\n  web:\n    build: https://github.com/example/app.git\n", []string{"build.context", "clone it"}},
		{"a volumes_from mode", "services:\n  a:\n    image: busybox\n  web:\n    image: busybox\n    volumes_from: [\"a:xx\"]\n", []string{"services.web.volumes_from", `"a:xx"`, "ro or rw"}},
		{"a volumes_from container mode", "services:\n  web:\n    image: busybox\n    volumes_from: [\"container:c:rx\"]\n", []string{"services.web.volumes_from", "ro or rw"}},
		{"volumes_from an unknown service", "services:\n  web:\n    image: busybox\n    volumes_from: [db]\n", []string{"volumes_from", `"db"`}},
		{"ipc of an unknown service", "services:\n  web:\n    image: busybox\n    ipc: service:db\n", []string{"compose.yaml", `service "web" depends on undefined service "db"`}},
		{"pid of an unknown service", "services:\n  web:\n    image: busybox\n    pid: service:db\n", []string{"compose.yaml", `service "web" depends on undefined service "db"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(context.Background(), Options{Files: []string{write(t, tc.yaml)}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFileSaysWhatToDo(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{"/nonexistent/compose.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/compose.yaml") {
		t.Fatalf("err = %v", err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	_, err = Load(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "no configuration file provided") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadDiscoversTheFileInAParentFolder(t *testing.T) {
	path := write(t, "services:\n  web:\n    image: busybox\n")
	sub := filepath.Join(filepath.Dir(path), "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	p, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "demo" {
		t.Errorf("name = %q, want the folder's name", p.Name)
	}
}

func TestProjectNamePrecedence(t *testing.T) {
	path := write(t, "name: fromfile\nservices:\n  web:\n    image: busybox\n")
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil || p.Name != "fromfile" {
		t.Fatalf("name = %v, %v; want fromfile", p, err)
	}
	t.Setenv("COMPOSE_PROJECT_NAME", "fromenv")
	if p, _ = Load(context.Background(), Options{Files: []string{path}}); p.Name != "fromenv" {
		t.Errorf("name = %q, want fromenv", p.Name)
	}
	if p, _ = Load(context.Background(), Options{Files: []string{path}, Name: "fromflag"}); p.Name != "fromflag" {
		t.Errorf("name = %q, want fromflag", p.Name)
	}
}

// The config hash must stay stable across comp versions, or every upgrade recreates every
// container (docker/compose#11335). Changing this golden value is a breaking change.
func TestConfigHashIsStable(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox:1.36
    command: ["httpd", "-f"]
    environment: {A: "1"}
    ports: ["8080:80"]
    depends_on: [db]
    scale: 2
  db:
    image: busybox:1.36
`)
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.GetService("web")
	h, err := ConfigHash(web)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "web.hash")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(h+"\n"), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if h != strings.TrimSpace(string(want)) {
		t.Errorf("hash = %s, want %s", h, want)
	}
	// Fields that do not change a container leave the hash alone.
	scaled := web
	one := 5
	scaled.Scale = &one
	scaled.DependsOn = nil
	scaled.Profiles = []string{"x"}
	if h2, _ := ConfigHash(scaled); h2 != h {
		t.Error("scale, depends_on or profiles changed the hash")
	}
	changed := web
	changed.Environment = nil
	if h3, _ := ConfigHash(changed); h3 == h {
		t.Error("environment did not change the hash")
	}
}

func TestContainerSpec(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    ports: ["127.0.0.1:8080:80/udp", "9000"]
    volumes: [data:/data, ./src:/src:ro]
    networks:
      front: {aliases: [www]}
    depends_on:
      db: {condition: service_healthy, restart: true}
    restart: on-failure:3
    stop_grace_period: 3s
  db:
    image: busybox
    network_mode: host
  sidecar:
    image: busybox
    network_mode: service:web
    ipc: service:web
    pid: container:outside
    volumes_from: ["web:ro", "container:external", "container:other:rw"]
volumes:
  data:
networks:
  front:
`)
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.GetService("web")
	spec, err := p.ContainerSpec(web, ContainerOptions{Number: 2, ImageID: "sha256:abc"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	checks := []struct{ what, got, want string }{
		{"name", spec.Name, "demo-web-2"},
		{"project label", spec.Labels[runtime.LabelProject], "demo"},
		{"service label", spec.Labels[runtime.LabelService], "web"},
		{"number label", spec.Labels[runtime.LabelContainerNumber], "2"},
		{"oneoff label", spec.Labels[runtime.LabelOneoff], "False"},
		{"image label", spec.Labels[runtime.LabelImage], "sha256:abc"},
		{"depends_on label", spec.Labels[runtime.LabelDependsOn], "db:service_healthy:true"},
		{"working dir label", spec.Labels[runtime.LabelWorkingDir], dir},
		{"config files label", spec.Labels[runtime.LabelConfigFiles], path},
		{"volume source", spec.Mounts[0].Source, "demo_data"},
		{"bind source resolved against the project folder", spec.Mounts[1].Source, filepath.Join(dir, "src")},
		{"network", spec.Networks[0].Network, "demo_front"},
		{"aliases", strings.Join(spec.Networks[0].Aliases, ","), "web,www"},
		{"port", spec.Ports[0].HostIP + ":" + spec.Ports[0].HostPort + ":" + spec.Ports[0].Protocol, "127.0.0.1:8080:udp"},
		{"random port", spec.Ports[1].HostPort, ""},
		{"restart", spec.Restart.Name, "on-failure"},
		{"stop timeout", spec.StopTimeout.String(), "3s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !spec.Mounts[1].ReadOnly || !spec.Mounts[1].CreateHostPath || spec.Restart.MaxRetries != 3 {
		t.Errorf("mounts %+v restart %+v", spec.Mounts, spec.Restart)
	}
	if spec.Entrypoint != nil || spec.Command != nil {
		t.Errorf("entrypoint %q command %q: want the image's", spec.Entrypoint, spec.Command)
	}
	sidecar, _ := p.GetService("sidecar")
	s, _ := p.ContainerSpec(sidecar, ContainerOptions{Number: 1})
	joinWeb := runtime.JoinContainer("demo-web-1")
	if s.NetworkMode != joinWeb || s.IPC != joinWeb {
		t.Errorf("network_mode and ipc service:web = %+v, %+v; want %+v", s.NetworkMode, s.IPC, joinWeb)
	}
	if want := runtime.JoinContainer("outside"); s.PID != want {
		t.Errorf("pid container:outside = %+v, want %+v", s.PID, want)
	}
	want := []runtime.VolumesFrom{{Container: "demo-web-1", Mode: "ro"}, {Container: "external"}, {Container: "other", Mode: "rw"}}
	if !slices.Equal(s.VolumesFrom, want) {
		t.Errorf("volumes_from = %+v, want %+v", s.VolumesFrom, want)
	}
	if got := Parents(sidecar); !slices.Equal(got, []string{"web", "web", "web"}) {
		t.Errorf("parents of sidecar = %q, want web for network_mode, ipc and volumes_from", got)
	}
}
