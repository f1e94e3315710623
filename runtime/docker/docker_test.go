package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

func TestNewWithUnreachableEngineIsUnavailable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx)
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("New() error = %v, want ErrUnavailable", err)
	}
	want := "cannot reach Docker Engine at unix:///nonexistent.sock: is dockerd running? (set DOCKER_HOST, or use --runtime embedded)"
	if err.Error() != want {
		t.Errorf("New() error = %q, want %q", err, want)
	}
}

func TestInfoDescribesTheEngine(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	if r.Name() != "docker" {
		t.Errorf("Name() = %q, want docker", r.Name())
	}
	info, err := r.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Runtime != "docker" || info.ServerVersion == "" || info.APIVersion == "" || info.OS == "" || info.Arch == "" {
		t.Errorf("Info() = %+v, want every field set", info)
	}
}

func TestContainerRunsLogsAndExits(t *testing.T) {
	f := newFixture(t)
	before := time.Now().Add(-time.Minute)
	id := f.run(runtime.ContainerSpec{
		Name:    f.name("exits"),
		Command: sh("echo out1; echo err1 >&2; echo out2; exit 3"),
	})
	if code := f.wait(id); code != 3 {
		t.Errorf("WaitContainer() = %d, want 3", code)
	}

	lines := f.logs(id, runtime.LogOptions{Tail: -1})
	var got []string
	for _, l := range lines {
		got = append(got, l.Stream+":"+l.Text)
		if l.Time.Before(before) || l.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("line %q has time %v, want about now", l.Text, l.Time)
		}
	}
	if !slices.Contains(got, "stderr:err1") || !slices.Equal(without(got, "stderr:err1"), []string{"stdout:out1", "stdout:out2"}) {
		t.Errorf("Logs() = %q, want stdout out1, out2 and stderr err1", got)
	}

	// Since keeps the lines from a time on.
	var out1, out2 runtime.LogLine
	for _, l := range lines {
		switch l.Text {
		case "out1":
			out1 = l
		case "out2":
			out2 = l
		}
	}
	since := f.logs(id, runtime.LogOptions{Tail: -1, Since: out2.Time})
	if !slices.ContainsFunc(since, func(l runtime.LogLine) bool { return l.Text == "out2" }) ||
		(out1.Time.Before(out2.Time) && slices.ContainsFunc(since, func(l runtime.LogLine) bool { return l.Text == "out1" })) {
		t.Errorf("Logs(Since: %v) = %+v, want out2 and not out1", out2.Time, since)
	}

	c, err := f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != f.name("exits") || c.State != runtime.StateExited || c.ExitCode != 3 || c.Image != f.image ||
		c.StartedAt.IsZero() || c.FinishedAt.IsZero() || c.Labels[runtime.LabelProject] != f.project {
		t.Errorf("InspectContainer() = %+v", c)
	}

	running, err := f.r.ListContainers(f.ctx, runtime.ListOptions{Project: f.project})
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 0 {
		t.Errorf("ListContainers() without All = %d containers, want 0", len(running))
	}
	all, err := f.r.ListContainers(f.ctx, runtime.ListOptions{Project: f.project, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != id || all[0].ExitCode != 3 {
		t.Errorf("ListContainers(All) = %+v, want the exited container", all)
	}

	if err := f.r.RemoveContainer(f.ctx, id, runtime.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.InspectContainer(f.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectContainer() after remove: error = %v, want ErrNotFound", err)
	}
}

func without(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(e string) bool { return e == s })
}

func TestStopEndsARunningContainer(t *testing.T) {
	f := newFixture(t)
	id := f.run(runtime.ContainerSpec{Name: f.name("sleeper"), Command: []string{"sleep", "300"}})
	c, err := f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != runtime.StateRunning {
		t.Fatalf("state after start = %q, want running", c.State)
	}
	list, err := f.r.ListContainers(f.ctx, runtime.ListOptions{Project: f.project})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListContainers() = %v, %v; want the running container", list, err)
	}

	// sleep is PID 1 and ignores SIGTERM: the stop must kill it after the timeout.
	timeout := time.Second
	if err := f.r.StopContainer(f.ctx, id, &timeout); err != nil {
		t.Fatal(err)
	}
	c, err = f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != runtime.StateExited {
		t.Errorf("state after stop = %q, want exited", c.State)
	}

	if err := f.r.RestartContainer(f.ctx, id, &timeout); err != nil {
		t.Fatal(err)
	}
	if c, err := f.r.InspectContainer(f.ctx, id); err != nil || c.State != runtime.StateRunning {
		t.Fatalf("after restart: state %q, %v; want running", c.State, err)
	}
	if err := f.r.KillContainer(f.ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if code := f.wait(id); code != 137 {
		t.Errorf("exit code after SIGKILL = %d, want 137", code)
	}

	renamed := f.name("renamed")
	if err := f.r.RenameContainer(f.ctx, id, renamed); err != nil {
		t.Fatal(err)
	}
	if c, err := f.r.InspectContainer(f.ctx, renamed); err != nil || c.ID != id || c.Name != renamed {
		t.Errorf("InspectContainer(%s) = %s %q, %v; want the renamed container", renamed, c.ID, c.Name, err)
	}
}

func TestLogsKeepEveryLineUnderLoad(t *testing.T) {
	f := newFixture(t)
	const n = 50000
	id := f.run(runtime.ContainerSpec{Name: f.name("loud"), Command: []string{"seq", "1", strconv.Itoa(n)}})

	// Following from the start returns when the container ends, with every line.
	followed := f.logs(id, runtime.LogOptions{Tail: -1, Follow: true})
	if code := f.wait(id); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	all := f.logs(id, runtime.LogOptions{Tail: -1})
	for name, lines := range map[string][]runtime.LogLine{"follow": followed, "all": all} {
		if len(lines) != n {
			t.Errorf("%s: %d lines, want %d", name, len(lines), n)
			continue
		}
		for i, l := range lines {
			if want := strconv.Itoa(i + 1); l.Text != want || l.Stream != runtime.Stdout || l.Time.IsZero() {
				t.Errorf("%s: line %d = %+v, want stdout %q with a time", name, i, l, want)
				break
			}
		}
	}

	tail := f.logs(id, runtime.LogOptions{Tail: 2})
	if len(tail) != 2 || tail[0].Text != strconv.Itoa(n-1) || tail[1].Text != strconv.Itoa(n) {
		t.Errorf("Logs(Tail: 2) = %+v", tail)
	}
}

func TestLogsJoinLongLinesAndKeepALastLineWithoutNewline(t *testing.T) {
	f := newFixture(t)
	// The engine splits lines over 16 KiB into several messages.
	id := f.run(runtime.ContainerSpec{
		Name:    f.name("long"),
		Command: sh(`yes a | head -n 40000 | tr -d '\n'; echo; printf last`),
	})
	followed := f.logs(id, runtime.LogOptions{Tail: -1, Follow: true})
	f.wait(id)
	all := f.logs(id, runtime.LogOptions{Tail: -1})
	for name, lines := range map[string][]runtime.LogLine{"follow": followed, "all": all} {
		if len(lines) != 2 {
			t.Errorf("%s: %d lines, want 2", name, len(lines))
			continue
		}
		if lines[0].Text != strings.Repeat("a", 40000) {
			t.Errorf("%s: long line: %d bytes, starting %.40q", name, len(lines[0].Text), lines[0].Text)
		}
		if lines[1].Text != "last" {
			t.Errorf("%s: last line = %q, want last", name, lines[1].Text)
		}
	}
}

func TestLogsOfATTYContainer(t *testing.T) {
	f := newFixture(t)
	id := f.run(runtime.ContainerSpec{Name: f.name("tty"), Tty: true, Command: sh("echo one; echo two >&2")})
	f.wait(id)
	lines := f.logs(id, runtime.LogOptions{Tail: -1})
	var got []string
	for _, l := range lines {
		got = append(got, l.Text)
		if l.Time.IsZero() || l.Stream != runtime.Stdout {
			t.Errorf("line %+v: want stdout with a time", l)
		}
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("Logs() = %q, want one, two", got)
	}
}

func TestPublishedPortIsReachableAndATakenPortConflicts(t *testing.T) {
	f := newFixture(t)
	id := f.run(runtime.ContainerSpec{
		Name:    f.name("web"),
		Command: []string{"httpd", "-f", "-p", "8080", "-h", "/www"},
		Ports:   []runtime.PortSpec{{HostIP: "127.0.0.1", ContainerPort: 8080, Protocol: "tcp"}},
	})
	c, err := f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ports) != 1 || c.Ports[0].HostPort == 0 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].HostIP != "127.0.0.1" {
		t.Fatalf("Ports = %+v, want 8080/tcp published on a random port of 127.0.0.1", c.Ports)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", c.Ports[0].HostPort)
	var body string
	f.eventually("httpd answers on "+url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if body != "hello from comp\n" {
		t.Errorf("GET %s = %q", url, body)
	}

	taken := f.container(runtime.ContainerSpec{
		Name:    f.name("web2"),
		Command: []string{"httpd", "-f", "-p", "8080", "-h", "/www"},
		Ports: []runtime.PortSpec{{
			HostIP: "127.0.0.1", HostPort: strconv.Itoa(int(c.Ports[0].HostPort)), ContainerPort: 8080,
		}},
	})
	err = f.r.StartContainer(f.ctx, taken)
	if !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("StartContainer() on a taken port: error = %v, want ErrConflict", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "already allocated") && !strings.Contains(msg, "already in use") {
		t.Errorf("error %q does not keep the engine's message", msg)
	}
}

func TestExecReturnsExitCodeAndOutput(t *testing.T) {
	f := newFixture(t)
	id := f.run(runtime.ContainerSpec{Name: f.name("exec"), Command: []string{"sleep", "300"}})

	var stdout, stderr bytes.Buffer
	code, err := f.r.Exec(f.ctx, id, runtime.ExecSpec{
		Cmd:    sh("echo hi; echo oops >&2; echo $FOO; pwd; exit 7"),
		Env:    []string{"FOO=bar"},
		Stdout: &stdout, Stderr: &stderr,
		WorkingDir: "/tmp",
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 || stdout.String() != "hi\nbar\n/tmp\n" || stderr.String() != "oops\n" {
		t.Errorf("Exec() = %d, stdout %q, stderr %q; want 7, \"hi\\nbar\\n/tmp\\n\", \"oops\\n\"", code, stdout.String(), stderr.String())
	}

	stdout.Reset()
	code, err = f.r.Exec(f.ctx, id, runtime.ExecSpec{Cmd: []string{"cat"}, Stdin: strings.NewReader("from stdin"), Stdout: &stdout})
	if err != nil || code != 0 || stdout.String() != "from stdin" {
		t.Errorf("Exec(cat) = %d, %v, stdout %q; want 0, from stdin", code, err, stdout.String())
	}

	code, err = f.r.Exec(f.ctx, id, runtime.ExecSpec{Cmd: sh("touch /tmp/detached"), Detach: true})
	if err != nil || code != 0 {
		t.Fatalf("Exec(Detach) = %d, %v", code, err)
	}
	f.eventually("the detached command has run", func() bool {
		code, err := f.r.Exec(f.ctx, id, runtime.ExecSpec{Cmd: []string{"test", "-e", "/tmp/detached"}})
		return err == nil && code == 0
	})

	top, err := f.r.Top(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Titles) == 0 || len(top.Processes) == 0 {
		t.Errorf("Top() = %+v, want the sleep process", top)
	}

	if _, err := f.r.Exec(f.ctx, "comptest-no-such-container", runtime.ExecSpec{Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Exec() in a missing container: error = %v, want ErrNotFound", err)
	}
}

func TestAttachSendsStdinAndReceivesOutput(t *testing.T) {
	f := newFixture(t)
	id := f.container(runtime.ContainerSpec{
		Name:      f.name("attach"),
		StdinOpen: true,
		Command:   sh("read x; echo got $x; echo bye >&2"),
	})
	// Like Docker's, the engine ends the output when stdin ends (the container is not
	// StdinOnce): keep stdin open until the container is done.
	stdin, input := io.Pipe()
	t.Cleanup(func() { input.Close() })
	var stdout, stderr bytes.Buffer
	wait, err := f.r.Attach(f.ctx, id, runtime.AttachStreams{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.r.StartContainer(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(input, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "got hello\n" || stderr.String() != "bye\n" {
		t.Errorf("attached output: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestNetworksByLabelAndAttachments(t *testing.T) {
	f := newFixture(t)
	// Outside Docker's default pools (172.17-31/16, 192.168/16), from which networks that other
	// tests create meanwhile get their subnets, and outside the embedded runtime's 10.89/16.
	subnet := fmt.Sprintf("10.211.%d.0/24", time.Now().UnixNano()%250)
	front := f.network(runtime.NetworkSpec{
		Name: f.name("front"),
		IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: subnet}}},
	})
	back := f.network(runtime.NetworkSpec{Name: f.name("back"), Internal: true})
	if front.Driver != "bridge" || !slices.Equal(front.Subnets, []string{subnet}) || !back.Internal || len(back.Subnets) == 0 {
		t.Errorf("created networks: %+v, %+v", front, back)
	}

	list, err := f.r.ListNetworks(f.ctx, runtime.ListOptions{Project: f.project})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{back.Name, front.Name}) {
		t.Errorf("ListNetworks() = %q, want both networks", names)
	}
	if got, err := f.r.InspectNetwork(f.ctx, front.Name); err != nil || got.ID != front.ID {
		t.Errorf("InspectNetwork(%s) = %+v, %v", front.Name, got, err)
	}
	if _, err := f.r.CreateNetwork(f.ctx, runtime.NetworkSpec{Name: front.Name, Labels: f.labels()}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("CreateNetwork() with a taken name: error = %v, want ErrConflict", err)
	}

	ip := strings.TrimSuffix(subnet, "0/24") + "10"
	id := f.run(runtime.ContainerSpec{
		Name:    f.name("multi"),
		Command: []string{"sleep", "300"},
		Networks: []runtime.NetworkAttachment{
			{Network: back.Name, Aliases: []string{"beta"}, Priority: 1},
			{Network: front.Name, Aliases: []string{"alpha"}, IPv4Address: ip, Priority: 10},
		},
	})
	c, err := f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ep := c.Networks[front.Name]; ep.IPAddress != ip || !slices.Contains(ep.Aliases, "alpha") || ep.NetworkID != front.ID {
		t.Errorf("endpoint on %s = %+v, want %s with alias alpha", front.Name, ep, ip)
	}
	if ep := c.Networks[back.Name]; ep.IPAddress == "" || !slices.Contains(ep.Aliases, "beta") {
		t.Errorf("endpoint on %s = %+v, want an address and alias beta", back.Name, ep)
	}

	if err := f.r.RemoveNetwork(f.ctx, back.Name); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveNetwork() of a network in use: error = %v, want ErrConflict", err)
	}
	if err := f.r.RemoveContainer(f.ctx, id, runtime.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.r.RemoveNetwork(f.ctx, back.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.InspectNetwork(f.ctx, back.Name); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectNetwork() after remove: error = %v, want ErrNotFound", err)
	}
}

func TestVolumesByLabelAndInUse(t *testing.T) {
	f := newFixture(t)
	v := f.volume(runtime.VolumeSpec{Name: f.name("data")})
	if v.Driver != "local" || v.Mountpoint == "" || v.CreatedAt.IsZero() {
		t.Errorf("CreateVolume() = %+v", v)
	}
	list, err := f.r.ListVolumes(f.ctx, runtime.ListOptions{Project: f.project})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != v.Name || list[0].Labels[runtime.LabelProject] != f.project {
		t.Errorf("ListVolumes() = %+v, want the volume", list)
	}

	id := f.run(runtime.ContainerSpec{
		Name:    f.name("writer"),
		Command: sh("echo kept > /data/file"),
		Mounts:  []runtime.Mount{{Type: runtime.MountVolume, Source: v.Name, Target: "/data"}},
	})
	f.wait(id)
	c, err := f.r.InspectContainer(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Type != runtime.MountVolume || c.Mounts[0].Source != v.Name || c.Mounts[0].Target != "/data" {
		t.Errorf("Mounts = %+v", c.Mounts)
	}
	if err := f.r.RemoveVolume(f.ctx, v.Name, false); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveVolume() of a volume in use: error = %v, want ErrConflict", err)
	}
	if err := f.r.RemoveContainer(f.ctx, id, runtime.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.r.RemoveVolume(f.ctx, v.Name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.InspectVolume(f.ctx, v.Name); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectVolume() after remove: error = %v, want ErrNotFound", err)
	}
}

func TestBindMountCreatesAMissingHostFolder(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "made", "here")
	id := f.run(runtime.ContainerSpec{
		Name:    f.name("bind"),
		Command: sh("echo x > /data/file"),
		Mounts:  []runtime.Mount{{Type: runtime.MountBind, Source: dir, Target: "/data", CreateHostPath: true}},
		Tmpfs:   map[string]string{"/scratch": "size=1m"},
	})
	if code := f.wait(id); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "file")); err != nil || string(b) != "x\n" {
		t.Errorf("host file = %q, %v", b, err)
	}
}

func TestEventsSeeStartAndDie(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(f.ctx)
	events, errs := f.r.Events(ctx, f.project)
	id := f.run(runtime.ContainerSpec{Name: f.name("events"), Command: sh("exit 5")})

	var started bool
	for done := false; !done; {
		select {
		case ev := <-events:
			if ev.Container != id {
				continue
			}
			if ev.Name != f.name("events") || ev.Labels[runtime.LabelProject] != f.project || ev.Time.IsZero() {
				t.Errorf("event %+v: want name, project label and time", ev)
			}
			switch ev.Action {
			case "start":
				started = true
			case "die":
				if ev.ExitCode != 5 {
					t.Errorf("die event exit code = %d, want 5", ev.ExitCode)
				}
				done = true
			}
		case err := <-errs:
			t.Fatalf("Events() error: %v", err)
		case <-f.ctx.Done():
			t.Fatal("timed out waiting for the die event")
		}
	}
	if !started {
		t.Error("no start event before die")
	}

	cancel()
	for range events {
	}
	if err, ok := <-errs; ok || err != nil {
		t.Errorf("after cancel: error channel gave %v, %v; want closed", err, ok)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	f := newFixture(t)
	if _, err := f.r.InspectContainer(f.ctx, "comptest-no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectContainer(missing): error = %v, want ErrNotFound", err)
	}
	if err := f.r.StartContainer(f.ctx, "comptest-no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("StartContainer(missing): error = %v, want ErrNotFound", err)
	}
	if _, err := f.r.InspectImage(f.ctx, "comptest/no-such-image:1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectImage(missing): error = %v, want ErrNotFound", err)
	}
	if err := f.r.RemoveNetwork(f.ctx, "comptest-no-such-network"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("RemoveNetwork(missing): error = %v, want ErrNotFound", err)
	}
	if _, err := f.r.CreateContainer(f.ctx, runtime.ContainerSpec{Name: f.name("noimage"), Image: "comptest/no-such-image:1", Labels: f.labels()}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CreateContainer(missing image): error = %v, want ErrNotFound", err)
	}

	f.container(runtime.ContainerSpec{Name: f.name("taken")})
	_, err := f.r.CreateContainer(f.ctx, runtime.ContainerSpec{Name: f.name("taken"), Image: f.image, Labels: f.labels()})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("CreateContainer(taken name): error = %v, want ErrConflict", err)
	}

	if err := f.r.PullImage(f.ctx, "Not A Reference", nil); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("PullImage(bad reference): error = %v, want ErrInvalidArgument", err)
	}
	err = f.r.PullImage(f.ctx, "127.0.0.1:1/comptest/nothing:1", nil)
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1/comptest/nothing:1") {
		t.Errorf("PullImage(unreachable registry): error = %v, want ErrUnavailable naming the image", err)
	}
}

func TestImagesListAndInspect(t *testing.T) {
	f := newFixture(t)
	img, err := f.r.InspectImage(f.ctx, f.image)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || !slices.Contains(img.RepoTags, f.image) || img.Created.IsZero() {
		t.Errorf("InspectImage() = %+v", img)
	}
	list, err := f.r.ListImages(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list, func(i runtime.Image) bool { return i.ID == img.ID }) {
		t.Errorf("ListImages() does not list %s", img.ID)
	}
}

func TestEntrypointOverridesAndClears(t *testing.T) {
	f := newFixture(t)
	// An image with an entrypoint, committed from a container of the test image.
	base := f.container(runtime.ContainerSpec{Name: f.name("base")})
	ref := "comptest/entrypoint:" + randomSuffix(t)
	if _, err := f.r.cli.ContainerCommit(f.ctx, base, container.CommitOptions{
		Reference: ref,
		Changes:   []string{`ENTRYPOINT ["echo", "from-entrypoint"]`, `CMD ["default"]`},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.r.RemoveImage(context.Background(), ref, true) })

	for _, tc := range []struct {
		name       string
		entrypoint []string
		command    []string
		want       string
	}{
		{"image's entrypoint and command", nil, nil, "from-entrypoint default"},
		{"command replaces the image's", nil, []string{"mine"}, "from-entrypoint mine"},
		{"entrypoint replaces the image's", []string{"echo"}, []string{"own"}, "own"},
		{"empty entrypoint clears the image's", []string{}, []string{"echo", "cleared"}, "cleared"},
	} {
		id := f.run(runtime.ContainerSpec{Name: f.name(randomSuffix(t)), Image: ref, Entrypoint: tc.entrypoint, Command: tc.command})
		if code := f.wait(id); code != 0 {
			t.Errorf("%s: exit code %d", tc.name, code)
		}
		lines := f.logs(id, runtime.LogOptions{Tail: -1})
		if len(lines) != 1 || lines[0].Text != tc.want {
			t.Errorf("%s: output = %+v, want %q", tc.name, lines, tc.want)
		}
	}
}
