package docker

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/comp-dev/comp/runtime"
)

// These tests need no engine: they check the mapping between comp's types and the API's.

func TestLineWriterSplitsFramesIntoLines(t *testing.T) {
	ts1 := "2024-05-01T10:00:00.000000001Z "
	ts2 := "2024-05-01T10:00:00.000000002Z "
	for _, tc := range []struct {
		name   string
		framed bool
		tty    bool
		writes []string
		want   []string // "time text"
	}{
		{"one message per line", true, false, []string{ts1 + "a\n", ts2 + "b\n"},
			[]string{"1 a", "2 b"}},
		{"partial messages join into one line with the first time", true, false,
			[]string{ts1 + "long-", ts2 + "line\n"}, []string{"1 long-line"}},
		{"last line without newline", true, false, []string{ts1 + "a\n", ts2 + "tail"},
			[]string{"1 a", "2 tail"}},
		{"empty line", true, false, []string{ts1 + "\n"}, []string{"1 "}},
		{"raw stream cut anywhere", false, true,
			[]string{ts1[:5], ts1[5:] + "a\r", "\n" + ts2 + "b\r\n"}, []string{"1 a", "2 b"}},
		{"raw line without a time", false, false, []string{"no time\n"}, []string{"0 no time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{stream: runtime.Stdout, framed: tc.framed, tty: tc.tty, sink: func(l runtime.LogLine) {
				got = append(got, fmt.Sprintf("%d %s", l.Time.Nanosecond(), l.Text))
			}}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write() = %d, %v", n, err)
				}
			}
			w.flush()
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEventFromMessageNormalisesActions(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 5, time.UTC)
	for _, tc := range []struct {
		name   string
		action string
		attrs  map[string]string
		want   runtime.Event
	}{
		{"die carries the exit code", "die", map[string]string{"name": "p-web-1", "exitCode": "137", "com.docker.compose.project": "p"},
			runtime.Event{Action: "die", Name: "p-web-1", ExitCode: 137, Labels: map[string]string{"com.docker.compose.project": "p"}}},
		{"health status is cut at the colon", "health_status: healthy", map[string]string{"name": "p-db-1"},
			runtime.Event{Action: "health_status", Name: "p-db-1", Health: "healthy"}},
		{"exec actions lose their command", "exec_start: sh -c echo hi", map[string]string{"name": "p-web-1", "execID": "x"},
			runtime.Event{Action: "exec_start", Name: "p-web-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eventFromMessage(events.Message{
				Action:   events.Action(tc.action),
				Actor:    events.Actor{ID: "abc", Attributes: tc.attrs},
				TimeNano: at.UnixNano(),
			})
			tc.want.Container, tc.want.Time = "abc", got.Time
			if !got.Time.Equal(at) {
				t.Errorf("Time = %v, want %v", got.Time, at)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("event = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestClassifyMapsEngineErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"not found", fmt.Errorf("No such container: x: %w", cerrdefs.ErrNotFound), runtime.ErrNotFound},
		{"name in use", fmt.Errorf("Conflict. The container name is already in use: %w", cerrdefs.ErrConflict), runtime.ErrConflict},
		{"port allocated (a 500)", fmt.Errorf("driver failed programming external connectivity: Bind for 0.0.0.0:80 failed: port is already allocated: %w", cerrdefs.ErrInternal), runtime.ErrConflict},
		{"network in use (a 403)", fmt.Errorf("error while removing network: network n id x has active endpoints: %w", cerrdefs.ErrPermissionDenied), runtime.ErrConflict},
		{"bad parameter", fmt.Errorf("invalid mount config: %w", cerrdefs.ErrInvalidArgument), runtime.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if !errors.Is(got, tc.want) || got.Error() != tc.err.Error() {
				t.Errorf("classify() = %v, want class %v with the message kept", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{"pull access denied for x, repository does not exist or may require 'docker login'", runtime.ErrNotFound},
		{"manifest for x:1 not found: manifest unknown", runtime.ErrNotFound},
		{`Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`, runtime.ErrUnavailable},
	} {
		if got := classifyPull(errors.New(tc.msg)); !errors.Is(got, tc.want) {
			t.Errorf("classifyPull(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// offlineRuntime is a Runtime whose client speaks API version v and never connects.
func offlineRuntime(t *testing.T, v string) *Runtime {
	cli, err := client.NewClientWithOpts(client.WithHost("unix:///nonexistent.sock"), client.WithVersion(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return &Runtime{cli: cli}
}

func TestContainerConfigMapsTheSpec(t *testing.T) {
	r := offlineRuntime(t, "1.41")
	stop := 2500 * time.Millisecond
	initOn := true
	spec := runtime.ContainerSpec{
		Name:        "p-web-1",
		Image:       "busybox",
		Labels:      map[string]string{runtime.LabelProject: "p"},
		Entrypoint:  []string{},
		Env:         []string{"A=1"},
		Ports:       []runtime.PortSpec{{HostPort: "8000-8010", ContainerPort: 80}, {HostIP: "127.0.0.1", ContainerPort: 53, Protocol: "udp"}},
		Expose:      []string{"9000-9001", "7000/udp"},
		MacAddress:  "02:42:ac:11:00:02",
		StopTimeout: &stop,
		Init:        &initOn,
		Healthcheck: &runtime.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, StartInterval: time.Second, Retries: 3},
		Restart:     runtime.RestartPolicy{Name: "on-failure", MaxRetries: 4},
		Mounts: []runtime.Mount{
			{Type: runtime.MountBind, Source: "/src", Target: "/app", ReadOnly: true, CreateHostPath: true},
			{Type: runtime.MountBind, Source: "/etc/x", Target: "/x"},
			{Type: runtime.MountVolume, Source: "p_data", Target: "/data", NoCopy: true},
			{Type: runtime.MountVolume, Target: "/anon"},
			{Type: runtime.MountTmpfs, Target: "/run", TmpfsSize: 1 << 20, TmpfsMode: 0o700},
		},
		VolumesFrom: []runtime.VolumesFrom{{Container: "p-db-1", Mode: "ro"}},
		IPC:         runtime.JoinContainer("p-db-1"),
		PID:         runtime.Namespace{Mode: runtime.NamespaceHost},
		Resources:   runtime.Resources{Memory: 1 << 30, PidsLimit: 100, ShmSize: 64 << 20},
		Ulimits:     []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
		Log:         runtime.LogConfig{Driver: "json-file", Options: map[string]string{"max-size": "1m"}},
	}
	cfg, host, err := r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Entrypoint == nil || len(cfg.Entrypoint) != 0 || cfg.Cmd != nil {
		t.Errorf("Entrypoint = %#v, Cmd = %#v; want cleared entrypoint, image's command", cfg.Entrypoint, cfg.Cmd)
	}
	if cfg.MacAddress != spec.MacAddress || *cfg.StopTimeout != 3 || cfg.Healthcheck.StartInterval != 0 || cfg.Healthcheck.Retries != 3 { //nolint:staticcheck // API 1.41
		t.Errorf("config = %+v", cfg)
	}
	for _, p := range []nat.Port{"80/tcp", "53/udp", "9000/tcp", "9001/tcp", "7000/udp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts = %v, missing %s", cfg.ExposedPorts, p)
		}
	}
	if b := host.PortBindings["80/tcp"]; len(b) != 1 || b[0].HostPort != "8000-8010" {
		t.Errorf("binding of 80/tcp = %+v", b)
	}
	if b := host.PortBindings["53/udp"]; len(b) != 1 || b[0].HostPort != "" || b[0].HostIP != "127.0.0.1" {
		t.Errorf("binding of 53/udp = %+v", b)
	}
	if !slices.Equal(host.Binds, []string{"/src:/app:ro"}) {
		t.Errorf("Binds = %q, want the bind that creates its source", host.Binds)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/etc/x", Target: "/x"},
		{Type: mount.TypeVolume, Source: "p_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeVolume, Target: "/anon"},
		{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
	}
	if !reflect.DeepEqual(host.Mounts, wantMounts) {
		t.Errorf("Mounts = %+v, want %+v", host.Mounts, wantMounts)
	}
	if host.RestartPolicy.Name != "on-failure" || host.RestartPolicy.MaximumRetryCount != 4 ||
		!slices.Equal(host.VolumesFrom, []string{"p-db-1:ro"}) || host.IpcMode != "container:p-db-1" || host.PidMode != "host" || *host.PidsLimit != 100 || host.ShmSize != 64<<20 ||
		host.Memory != 1<<30 || !*host.Init || host.LogConfig.Type != "json-file" || len(host.Ulimits) != 1 {
		t.Errorf("host config = %+v", host)
	}

	if _, _, err := r.containerConfig(runtime.ContainerSpec{Ports: []runtime.PortSpec{{HostPort: "x", ContainerPort: 80}}}); err == nil {
		t.Error("a bad host port was accepted")
	}
}

func TestEndpointSettingsFollowTheAPIVersion(t *testing.T) {
	a := runtime.NetworkAttachment{Network: "n", Aliases: []string{"web"}, IPv4Address: "10.0.0.5", MacAddress: "02:42:ac:11:00:02"}
	old := offlineRuntime(t, "1.41").endpointSettings(a, nil)
	if old.MacAddress != "" || old.IPAMConfig.IPv4Address != "10.0.0.5" || !slices.Equal(old.Aliases, []string{"web"}) {
		t.Errorf("API 1.41 endpoint = %+v, want no MAC (it goes in the container config)", old)
	}
	if ep := offlineRuntime(t, "1.44").endpointSettings(a, nil); ep.MacAddress != a.MacAddress {
		t.Errorf("API 1.44 endpoint MAC = %q, want %q", ep.MacAddress, a.MacAddress)
	}
	got := sortedAttachments([]runtime.NetworkAttachment{{Network: "a", Priority: 1}, {Network: "b", Priority: 10}, {Network: "c", Priority: 1}})
	if got[0].Network != "b" || got[1].Network != "a" || got[2].Network != "c" {
		t.Errorf("sortedAttachments() = %+v, want b, a, c", got)
	}
}

// An engine before API 1.44 drops start_interval: refused before anything is made, as Docker
// Compose refuses it.
func TestCheckContainerSpecRefusesStartIntervalOnAnOldEngine(t *testing.T) {
	spec := runtime.ContainerSpec{Name: "x", Healthcheck: &runtime.Healthcheck{Test: []string{"CMD", "true"}, StartInterval: time.Second}}
	err := offlineRuntime(t, "1.41").CheckContainerSpec(spec)
	if !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), "start_interval needs Docker Engine 25") {
		t.Errorf("API 1.41: %v", err)
	}
	if err := offlineRuntime(t, "1.44").CheckContainerSpec(spec); err != nil {
		t.Errorf("API 1.44: %v", err)
	}
	spec.Healthcheck.StartInterval = 0
	if err := offlineRuntime(t, "1.41").CheckContainerSpec(spec); err != nil {
		t.Errorf("no start_interval: %v", err)
	}
}
