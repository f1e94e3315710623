package project

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

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

// firstSpec loads the compose file at path and returns the spec of service's first container.
func firstSpec(t *testing.T, path, service string) runtime.ContainerSpec {
	t.Helper()
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.GetService(service)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := p.ContainerSpec(s, ContainerOptions{Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	return spec
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

func TestContainerSpecCarriesKernelKnobs(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    uts: host
    cgroup: private
    cgroup_parent: /tenant
    oom_score_adj: 500
    group_add: [nobody, "1234"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 64
    cpu_period: 50000
    cpu_quota: 25000
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950000
    mem_swappiness: 10
    device_cgroup_rules: ["c 1:3 mr"]
    userns_mode: host
    storage_opt: {size: 1G}
    runtime: runc
    annotations: {a: b}
    isolation: default
    umask: "0077"
    cpu_count: 2
    cpu_percent: 50
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/vda, weight: 200}]
      device_read_bps: [{path: /dev/vda, rate: 1mb}]
      device_write_iops: [{path: /dev/vda, rate: 100}]
`)
	s := firstSpec(t, path, "web")
	if s.UTS != "host" || s.Cgroup != "private" || s.CgroupParent != "/tenant" || s.OomScoreAdj == nil || *s.OomScoreAdj != 500 ||
		!slices.Equal(s.GroupAdd, []string{"nobody", "1234"}) || !slices.Equal(s.DeviceCgroupRules, []string{"c 1:3 mr"}) ||
		s.UsernsMode != "host" || s.StorageOpt["size"] != "1G" || s.OCIRuntime != "runc" || s.Annotations["a"] != "b" ||
		s.Isolation != "default" || s.Umask == nil || *s.Umask != 0o077 {
		t.Errorf("spec = %+v", s)
	}
	if want := []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 64, Hard: 64}}; !slices.Equal(s.Ulimits, want) {
		t.Errorf("ulimits = %+v, want %+v", s.Ulimits, want)
	}
	r := s.Resources
	if r.CPUPeriod != 50000 || r.CPUQuota != 25000 || r.CPURealtimePeriod != 1000000 || r.CPURealtimeRuntime != 950000 ||
		r.MemorySwappiness == nil || *r.MemorySwappiness != 10 || r.CPUCount != 2 || r.CPUPercent != 50 {
		t.Errorf("resources = %+v", r)
	}
	b := r.Blkio
	if b.Weight != 300 || len(b.WeightDevice) != 1 || b.WeightDevice[0] != (runtime.WeightDevice{Path: "/dev/vda", Weight: 200}) ||
		len(b.DeviceReadBps) != 1 || b.DeviceReadBps[0].Rate != 1<<20 || len(b.DeviceWriteIOps) != 1 || b.DeviceWriteIOps[0].Rate != 100 ||
		b.DeviceReadIOps != nil || b.DeviceWriteBps != nil {
		t.Errorf("blkio = %+v", b)
	}

	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := p.ContainerSpec(types.ServiceConfig{Name: "x", ContainerSpec: types.ContainerSpec{Image: "busybox"}}, ContainerOptions{Number: 1})
	if plain.OomScoreAdj != nil || plain.Resources.MemorySwappiness != nil || !plain.Resources.Blkio.IsZero() {
		t.Errorf("a service without knobs sets some: %+v", plain)
	}
}
