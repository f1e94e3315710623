package container

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
	"golang.org/x/sys/unix"
)

func TestStartEchoesThroughAPipe(t *testing.T) {
	requireRoot(t)
	m := newManager(t)

	t.Run("writer served by a goroutine", func(t *testing.T) {
		out, _, code := run(t, m, config(t, "echo", "hi"))
		if out != "hi\n" || code != 0 {
			t.Fatalf("got %q, exit %d; want \"hi\\n\", exit 0", out, code)
		}
	})
	t.Run("pipe file passed as it is", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cfg := config(t, "sh", "-c", "echo out; echo err >&2")
		cfg.Process.Stdout, cfg.Process.Stderr = w, w
		c := start(t, m, cfg)
		w.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := c.Wait(); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if string(b) != "out\nerr\n" {
			t.Fatalf("got %q", b)
		}
	})
	t.Run("stdin from a reader", func(t *testing.T) {
		cfg := config(t, "cat")
		cfg.Process.Stdin = strings.NewReader("from stdin\n")
		out, _, code := run(t, m, cfg)
		if out != "from stdin\n" || code != 0 {
			t.Fatalf("got %q, exit %d", out, code)
		}
	})
}

func TestStartReportsTheExitCode(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"true"}, 0},
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, code := run(t, m, config(t, tc.args...))
			if code != tc.want {
				t.Fatalf("exit %d, want %d", code, tc.want)
			}
		})
	}
}

func TestStartOfAMissingCommandIs127(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	for _, cmd := range []string{"no-such-command", "/bin/no-such-command"} {
		t.Run(cmd, func(t *testing.T) {
			cfg := config(t, cmd)
			c, err := m.Start(cfg)
			if err == nil {
				_ = c.Destroy()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, ErrCommandNotFound) {
				t.Fatalf("error %v does not match ErrCommandNotFound", err)
			}
			if code, ok := ExitCode(err); !ok || code != 127 {
				t.Fatalf("exit code %d (%v), want 127", code, ok)
			}
			assertNoCgroup(t, cfg.ID)
			if _, err := m.Load(cfg.ID); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("Load after a failed start: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestStartRunsAsTheUser(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	for _, tc := range []struct {
		user, want string
	}{
		{"", "0 0 0"},
		{"nobody", "65534 65534 65534"},
		{"1000:1000", "1000 1000 1000"},
		{"app", "1000 1000 1000 50"},
		{"4242", "4242 0 0"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			cfg := config(t, "sh", "-c", `echo $(id -u) $(id -g) $(id -G)`)
			cfg.Process.User = tc.user
			out, errOut, code := run(t, m, cfg)
			if strings.TrimSpace(out) != tc.want || code != 0 {
				t.Fatalf("got %q (stderr %q), exit %d; want %q", out, errOut, code, tc.want)
			}
		})
	}
	t.Run("unknown name", func(t *testing.T) {
		cfg := config(t, "true")
		cfg.Process.User = "nosuchuser"
		if c, err := m.Start(cfg); err == nil {
			c.Destroy()
			t.Fatal("Start succeeded")
		} else if !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Fatalf("error %v is not ErrInvalidArgument", err)
		}
	})
}

func TestStartSetsEnvCwdAndHostname(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", `echo "$FOO|$HOME|$(pwd)|$(hostname)"`)
	cfg.Process.Env = append(cfg.Process.Env, "FOO=bar baz")
	cfg.Process.Cwd = "/work/dir" // missing: created, as Docker does
	cfg.Hostname = "web-1"
	out, errOut, code := run(t, m, cfg)
	if want := "bar baz|/root|/work/dir|web-1\n"; out != want || code != 0 {
		t.Fatalf("got %q (stderr %q), exit %d; want %q", out, errOut, code, want)
	}
}

func TestMemoryLimitOOMKills(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1")
	cfg.Resources.Memory = 32 << 20
	_, errOut, code := run(t, m, cfg)
	if code != 137 {
		t.Fatalf("exit %d (stderr %q), want 137 (OOM-killed)", code, errOut)
	}

	cfg = config(t, "dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1")
	cfg.Resources.Memory = 32 << 20
	if _, errOut, code := run(t, m, cfg); code != 0 {
		t.Fatalf("within the limit: exit %d (stderr %q), want 0", code, errOut)
	}
}

func TestPidsLimitStopsForks(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", `for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; echo started`)
	cfg.Resources.PidsLimit = 5
	out, errOut, _ := run(t, m, cfg)
	if !strings.Contains(errOut, "can't fork") {
		t.Fatalf("stdout %q, stderr %q: want a fork failure", out, errOut)
	}
}

func TestResourcesReachTheCgroups(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sleep", "100")
	cfg.Resources = runtime.Resources{
		Memory: 64 << 20, NanoCPUs: 500_000_000, CPUShares: 512, PidsLimit: 42,
	}
	c := start(t, m, cfg)
	want := map[string]string{}
	if isCgroup2() {
		want["memory.max"] = "67108864"
		want["cpu.max"] = "50000 100000"
		want["pids.max"] = "42"
	} else {
		want["memory/memory.limit_in_bytes"] = "67108864"
		want["cpu/cpu.cfs_quota_us"] = "50000"
		want["cpu/cpu.cfs_period_us"] = "100000"
		want["cpu/cpu.shares"] = "512"
		want["pids/pids.max"] = "42"
		if swapAccounting() {
			want["memory/memory.memsw.limit_in_bytes"] = "134217728" // Docker: as much swap as memory
		}
	}
	for file, value := range want {
		dir, name := filepath.Split(file)
		p := filepath.Join("/sys/fs/cgroup", dir, "comp", c.ID(), name)
		if isCgroup2() {
			p = filepath.Join("/sys/fs/cgroup/comp", c.ID(), name)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != value {
			t.Errorf("%s = %q, want %q", file, got, value)
		}
	}
}

// Docker's default capability set, as /proc/PID/status prints it.
const dockerCapEff = "00000000a80425fb"

func TestCapabilities(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      string
	}{
		{"Docker's default set", nil, nil, dockerCapEff},
		{"cap_drop NET_RAW", nil, []string{"NET_RAW"}, "00000000a80405fb"},
		{"cap_add CAP_SYS_PTRACE", []string{"CAP_SYS_PTRACE"}, nil, "00000000a80c25fb"},
		{"cap_drop ALL", nil, []string{"ALL"}, "0000000000000000"},
		{"cap_drop ALL, cap_add KILL", []string{"kill"}, []string{"ALL"}, "0000000000000020"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, "grep", "CapEff", "/proc/self/status")
			cfg.CapAdd, cfg.CapDrop = tc.add, tc.drop
			out, errOut, _ := run(t, m, cfg)
			if got := strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")); got != tc.want {
				t.Fatalf("CapEff %q (stderr %q), want %q", got, errOut, tc.want)
			}
		})
	}
	t.Run("unknown capability", func(t *testing.T) {
		cfg := config(t, "true")
		cfg.CapAdd = []string{"NOT_A_CAP"}
		if _, err := m.Start(cfg); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Fatalf("Start: %v, want ErrInvalidArgument", err)
		}
	})
}

func TestProcIsMaskedAndReadOnly(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	// Check the masked files the host has (a VM may lack /proc/kcore).
	var masked []string
	for _, p := range maskedPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			masked = append(masked, p)
		}
	}
	if len(masked) == 0 {
		t.Fatal("the host has none of the masked files")
	}
	script := `for f in "$@"; do echo "$f $(wc -c < $f)"; done; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches && echo writable`
	out, errOut, _ := run(t, m, config(t, append([]string{"sh", "-c", script, "sh"}, masked...)...))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(masked)+1 {
		t.Fatalf("stdout %q (stderr %q)", out, errOut)
	}
	for i, p := range masked {
		if lines[i] != p+" 0" {
			t.Errorf("%s: got %q, want it empty (masked)", p, lines[i])
		}
	}
	if lines[len(masked)] != "0" {
		t.Errorf("/sys/firmware lists %s entries, want 0 (masked)", lines[len(masked)])
	}
	if !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("stderr %q: want a read-only /proc/sys", errOut)
	}
}

func TestReadOnlyRoot(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", `touch /x 2>/dev/null && echo root-writable; touch /scratch/y && echo tmpfs-writable; grep ' /scratch ' /proc/mounts`)
	cfg.ReadOnly = true
	cfg.Tmpfs = map[string]string{"/scratch": "size=1m,mode=1777"}
	out, errOut, _ := run(t, m, cfg)
	if strings.Contains(out, "root-writable") || !strings.Contains(out, "tmpfs-writable") {
		t.Fatalf("stdout %q (stderr %q): want a read-only root and a writable tmpfs", out, errOut)
	}
	if !strings.Contains(out, "noexec") || !strings.Contains(out, "size=1024k") {
		t.Fatalf("tmpfs mount %q: want noexec and size=1024k", out)
	}
}

func TestBindMounts(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rw := t.TempDir()
	cfg := config(t, "sh", "-c", `cat /in/f; echo x > /in/g 2>/dev/null && echo ro-writable; echo written > /out/g`)
	cfg.Mounts = []Mount{{Source: src, Target: "/in", ReadOnly: true}, {Source: rw, Target: "/out"}}
	out, errOut, _ := run(t, m, cfg)
	if out != "host file\n" {
		t.Fatalf("stdout %q (stderr %q)", out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "g")); string(b) != "written\n" {
		t.Fatalf("rw mount: host sees %q", b)
	}
}

func TestShmSize(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "grep", " /dev/shm ", "/proc/mounts")
	out, _, _ := run(t, m, cfg)
	if !strings.Contains(out, "size=65536k") {
		t.Fatalf("default /dev/shm: %q, want size=65536k", out)
	}
	cfg = config(t, "grep", " /dev/shm ", "/proc/mounts")
	cfg.Resources.ShmSize = 128 << 20
	out, _, _ = run(t, m, cfg)
	if !strings.Contains(out, "size=131072k") {
		t.Fatalf("/dev/shm with ShmSize 128m: %q", out)
	}
}

func TestNetwork(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	const script = `for i in /sys/class/net/*; do echo "$(basename $i) $(cat $i/flags)"; done`
	t.Run("own namespace has only lo, up", func(t *testing.T) {
		out, errOut, _ := run(t, m, config(t, "sh", "-c", script))
		assertOnlyLoUp(t, out, errOut)
	})
	t.Run("joined namespace gets lo up", func(t *testing.T) {
		cfg := config(t, "sh", "-c", script)
		cfg.Network = newNetns(t)
		out, errOut, _ := run(t, m, cfg)
		assertOnlyLoUp(t, out, errOut)
	})
	t.Run("host", func(t *testing.T) {
		cfg := config(t, "ls", "/sys/class/net")
		cfg.Network = "host"
		before := hostInterfaces(t)
		out, _, _ := run(t, m, cfg)
		seen := map[string]bool{}
		for _, name := range strings.Fields(out) {
			seen[name] = true
		}
		// Other tests on the machine may add or remove interfaces meanwhile: check the ones
		// that were there before and after.
		for name := range hostInterfaces(t) {
			if before[name] && !seen[name] {
				t.Fatalf("container sees %q, not the host's %s", out, name)
			}
		}
	})
	t.Run("sysctl", func(t *testing.T) {
		cfg := config(t, "cat", "/proc/sys/net/ipv4/ip_forward")
		cfg.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
		if out, errOut, _ := run(t, m, cfg); out != "1\n" {
			t.Fatalf("ip_forward %q (stderr %q), want 1", out, errOut)
		}
	})
}

func hostInterfaces(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

func assertOnlyLoUp(t *testing.T, out, errOut string) {
	t.Helper()
	fields := strings.Fields(out)
	if len(fields) != 2 || fields[0] != "lo" {
		t.Fatalf("interfaces %q (stderr %q), want only lo", out, errOut)
	}
	var flags int
	if _, err := fmtSscan(fields[1], &flags); err != nil || flags&syscall.IFF_UP == 0 {
		t.Fatalf("lo flags %q: want IFF_UP", fields[1])
	}
}

func TestTty(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", "tty; echo err >&2")
	cfg.Process.Tty = true
	out, _, code := run(t, m, cfg)
	if code != 0 || out != "/dev/pts/0\r\nerr\r\n" {
		t.Fatalf("got %q, exit %d; want the tty's name and stderr on the terminal", out, code)
	}
}

func TestSeccomp(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	want := "0"
	if SeccompSupported() {
		want = "2"
	}
	out, _, _ := run(t, m, config(t, "grep", "^Seccomp:", "/proc/self/status"))
	if got := strings.TrimSpace(strings.TrimPrefix(out, "Seccomp:")); got != want {
		t.Fatalf("Seccomp mode %q, want %s (SeccompSupported=%v)", got, want, SeccompSupported())
	}
	cfg := config(t, "grep", "^Seccomp:", "/proc/self/status")
	cfg.SecurityOpt = []string{"seccomp=unconfined", "no-new-privileges"}
	out, _, _ = run(t, m, cfg)
	if got := strings.TrimSpace(strings.TrimPrefix(out, "Seccomp:")); got != "0" {
		t.Fatalf("seccomp=unconfined: mode %q, want 0", got)
	}
}

// The filter the init loads (compiled ahead in this process, compiledSeccomp) enforces the
// profile, in the container's PID 1 and in a process exec'd into it: Docker's default denies
// unshare without CAP_SYS_ADMIN, which a new user namespace otherwise does not need.
func TestSeccompFilterDeniesWhatTheProfileDenies(t *testing.T) {
	requireRoot(t)
	if !SeccompSupported() {
		skipOrFail(t, "built without -tags seccomp: no filter to test")
	}
	m := newManager(t)
	unshare := []string{"unshare", "-U", "true"}
	cfg := config(t, unshare...)
	cfg.SecurityOpt = []string{"seccomp=unconfined"}
	if _, errOut, code := run(t, m, cfg); code != 0 {
		t.Fatalf("seccomp=unconfined: unshare -U exited %d (%q); the kernel must allow it for this test to mean anything", code, errOut)
	}
	_, errOut, code := run(t, m, config(t, unshare...))
	if code == 0 || !strings.Contains(errOut, "Operation not permitted") {
		t.Fatalf("default profile: unshare -U exited %d (%q), want EPERM from the filter", code, errOut)
	}

	c := start(t, m, config(t, "sleep", "100"))
	if sc := c.lc.Config().Seccomp; sc == nil || sc.Program == nil {
		t.Fatal("the container's config carries no compiled program: its init compiled the filter itself")
	}
	var out syncBuffer
	code, err := m.Exec(context.Background(), c.ID(), Process{Args: unshare, Stderr: &out})
	if code == 0 || !strings.Contains(out.String(), "Operation not permitted") {
		t.Fatalf("exec: unshare -U exited %d, %v (%q), want EPERM from the filter", code, err, out.String())
	}
}

func TestPrivileged(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", `grep CapEff /proc/self/status; wc -c < /proc/kcore | grep -qx 0 && echo masked; ls /dev | wc -l`)
	cfg.Privileged = true
	out, errOut, code := run(t, m, cfg)
	if code != 0 || strings.Contains(out, dockerCapEff) || strings.Contains(out, "masked") {
		t.Fatalf("stdout %q (stderr %q), exit %d: want every capability and nothing masked", out, errOut, code)
	}
}

func TestStop(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	t.Run("PID 1 without a handler is killed at once", func(t *testing.T) {
		c := start(t, m, config(t, "sleep", "100"))
		if h, err := HandlesSignal(c.Pid(), syscall.SIGTERM); err != nil || h {
			t.Fatalf("HandlesSignal(sleep, SIGTERM) = %v, %v; want false", h, err)
		}
		begin := time.Now()
		if err := c.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("Stop took %s; it should not wait for a signal the kernel drops", d)
		}
		if code, _ := c.Wait(); code != 137 {
			t.Fatalf("exit %d, want 137", code)
		}
		if c.Running() {
			t.Fatal("still running")
		}
	})
	t.Run("PID 1 with a handler stops on the signal", func(t *testing.T) {
		c := start(t, m, config(t, "sh", "-c", `trap "exit 0" TERM; while :; do sleep 0.1; done`))
		waitFor(t, "the trap", func() bool {
			h, _ := HandlesSignal(c.Pid(), syscall.SIGTERM)
			return h
		})
		begin := time.Now()
		if err := c.Stop(0, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Fatalf("Stop took %s", d)
		}
		if code, _ := c.Wait(); code != 0 {
			t.Fatalf("exit %d, want 0 (the trap's)", code)
		}
	})
	t.Run("a handler that ignores the signal is killed after the timeout", func(t *testing.T) {
		c := start(t, m, config(t, "sh", "-c", `trap "" TERM; trap "echo" USR1; while :; do sleep 0.1; done`))
		waitFor(t, "the trap", func() bool {
			h, _ := HandlesSignal(c.Pid(), syscall.SIGUSR1)
			return h
		})
		begin := time.Now()
		if err := c.Stop(syscall.SIGUSR1, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d < 300*time.Millisecond {
			t.Fatalf("Stop took %s, less than the timeout", d)
		}
		if code, _ := c.Wait(); code != 137 {
			t.Fatalf("exit %d, want 137", code)
		}
	})
}

func TestExec(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sleep", "100")
	cfg.Process.Env = append(cfg.Process.Env, "FROM_INIT=1")
	c := start(t, m, cfg)

	var out syncBuffer
	code, err := m.Exec(context.Background(), c.ID(), Process{
		Args: []string{"sh", "-c", `echo "$FROM_INIT $(id -u) $(pwd)"; ps -o pid,comm | grep -c sleep; exit 4`},
		User: "nobody", Cwd: "/tmp", Stdout: &out,
	})
	if err != nil || code != 4 {
		t.Fatalf("Exec: %d, %v; want 4", code, err)
	}
	if want := "1 65534 /tmp\n1\n"; out.String() != want {
		t.Fatalf("output %q, want %q (env of PID 1, user, cwd, same pid namespace)", out.String(), want)
	}

	code, err = m.Exec(context.Background(), c.ID(), Process{Args: []string{"nope"}})
	if code != 127 || !errors.Is(err, ErrCommandNotFound) {
		t.Fatalf("Exec of a missing command: %d, %v; want 127, ErrCommandNotFound", code, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	code, err = m.Exec(ctx, c.ID(), Process{Args: []string{"sleep", "100"}})
	if code != 137 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec cancelled: %d, %v; want 137, DeadlineExceeded", code, err)
	}

	procs, err := c.Processes()
	if err != nil || len(procs) != 1 || procs[0] != c.Pid() {
		t.Fatalf("Processes = %v, %v; want only PID 1 (%d) once the execs ended", procs, err, c.Pid())
	}

	if _, err := m.Exec(context.Background(), "no-such-container", Process{Args: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Exec in a missing container: %v, want ErrNotFound", err)
	}

	// Detached: Exec returns while the process still runs (it waits for the flag file).
	code, err = m.Exec(context.Background(), c.ID(), Process{Detach: true, Stdout: &out,
		Args: []string{"sh", "-c", `while [ ! -e /tmp/go ]; do sleep 0.02; done; echo done > /tmp/done`}})
	if err != nil || code != 0 {
		t.Fatalf("Exec detached: %d, %v; want 0", code, err)
	}
	if _, err := m.Exec(context.Background(), c.ID(), Process{Args: []string{"touch", "/tmp/go"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the detached process to write /tmp/done", func() bool {
		code, _ := m.Exec(context.Background(), c.ID(), Process{Args: []string{"test", "-e", "/tmp/done"}})
		return code == 0
	})
}

func TestLoadReattachesAfterTheStarterIsGone(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name       string
		subreaper  bool
		wantStatus int
	}{
		{"the init is not our child: Wait says -1 (unknown)", false, -1},
		{"the init was reparented to us, a subreaper: Wait reaps it", true, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.subreaper {
				if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
					t.Fatal(err)
				}
				defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
			}
			root := filepath.Join(t.TempDir(), "state")
			id := testID(t)
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := execCommand(exe)
			cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_ROOT="+root, "HELPER_ID="+id, "HELPER_ROOTFS="+newRootfs(t))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v (%s)", err, exitErrStderr(err))
			}
			m, err := NewManager(root)
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.Load(id)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			t.Cleanup(func() {
				if err := c.Destroy(); err != nil {
					t.Errorf("Destroy: %v", err)
				}
			})
			if got := strings.TrimSpace(string(out)); got != itoa(c.Pid()) {
				t.Fatalf("Loaded Pid %d, the helper started %s", c.Pid(), got)
			}
			if !c.Running() {
				t.Fatal("not running after Load")
			}
			var eout syncBuffer
			code, err := m.Exec(context.Background(), id, Process{Args: []string{"sh", "-c", "echo $HELPER"}, Stdout: &eout})
			if code != 0 || err != nil || eout.String() != "yes\n" {
				t.Fatalf("Exec after Load: %d, %v, %q", code, err, eout.String())
			}

			waited := make(chan int)
			go func() {
				code, _ := c.Wait()
				waited <- code
			}()
			if err := c.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-waited:
				if code != tc.wantStatus {
					t.Fatalf("Wait of the Loaded container = %d, want %d", code, tc.wantStatus)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return after Stop")
			}
			if c.Running() {
				t.Fatal("still running after Stop")
			}
		})
	}
}

func TestDestroyLeavesNothing(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sh", "-c", "sleep 100 & sleep 100")
	cfg.Resources = runtime.Resources{Memory: 64 << 20, PidsLimit: 20, NanoCPUs: 1e9}
	c, err := m.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy() }) // if the test fails half-way
	waitFor(t, "two processes", func() bool {
		p, _ := c.Processes()
		return len(p) == 2 // sh execs its last command
	})
	pids, _ := c.Processes()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil {
			t.Errorf("process %d survived Destroy", pid)
		}
	}
	assertNoCgroup(t, cfg.ID)
	if _, err := os.Stat(filepath.Join(m.root, cfg.ID)); !os.IsNotExist(err) {
		t.Errorf("state folder left: %v", err)
	}
	if _, err := m.Load(cfg.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Load after Destroy: %v, want ErrNotFound", err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestStartOfATakenIDIsAConflict(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sleep", "100")
	start(t, m, cfg)
	if c, err := m.Start(cfg); !errors.Is(err, runtime.ErrConflict) {
		if err == nil {
			c.Destroy()
		}
		t.Fatalf("second Start: %v, want ErrConflict", err)
	}
}

// assertNoCgroup checks that no hierarchy (every v1 one and cgroup2) has a folder for id, nor
// an empty /comp parent when no other container runs.
func assertNoCgroup(t *testing.T, id string) {
	t.Helper()
	mounts := cgroupMounts()
	if len(mounts) == 0 {
		t.Fatal("no cgroup hierarchy found")
	}
	for _, mnt := range mounts {
		if _, err := os.Stat(filepath.Join(mnt, cgroupParent, id)); err == nil {
			t.Errorf("cgroup %s left in %s", id, mnt)
		}
		entries, err := os.ReadDir(filepath.Join(mnt, cgroupParent))
		if err == nil && !hasDir(entries) {
			t.Errorf("empty parent %s left", filepath.Join(mnt, cgroupParent))
		}
	}
}

func hasDir(entries []os.DirEntry) bool {
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
