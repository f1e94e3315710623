package container

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer/seccomp"
)

// staticEnv marks the static copy of the test binary that TestInit builds and runs.
const staticEnv = "COMP_CONTAINER_TEST_STATIC"

func TestInit(t *testing.T) {
	requireRoot(t)
	if _, err := initBinary(); err != nil {
		if !errors.Is(err, ErrNotStatic) || os.Getenv(staticEnv) != "" {
			t.Fatal(err)
		}
		cfg := config(t, "true")
		cfg.Init = true
		if c, err := newManager(t).Start(cfg); !errors.Is(err, ErrNotStatic) {
			if err == nil {
				_ = c.Destroy()
			}
			t.Fatalf("Start with Init from a dynamic binary: %v, want ErrNotStatic", err)
		}
		// `go test` links dynamically: build a static copy of this test binary and run
		// this test in it.
		runStatic(t, "^TestInit$")
		return
	}
	m := newManager(t)

	t.Run("PID 1 is comp-init, the command its child", func(t *testing.T) {
		cfg := config(t, "sh", "-c", `echo "$$ $(cat /proc/1/cmdline | tr '\0' ' ')"; exit 5`)
		cfg.Init = true
		out, errOut, code := run(t, m, cfg)
		if code != 5 {
			t.Fatalf("exit %d (stderr %q), want the command's 5", code, errOut)
		}
		fields := strings.Fields(out)
		if len(fields) < 3 || fields[0] == "1" || fields[1] != initPath || fields[2] != "--" {
			t.Fatalf("output %q: want the shell not to be PID 1 and PID 1 to be %s -- …", out, initPath)
		}
	})
	t.Run("SIGTERM reaches a command without a handler", func(t *testing.T) {
		cfg := config(t, "sleep", "100")
		cfg.Init = true
		c := start(t, m, cfg)
		begin := time.Now()
		if err := c.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		code, _ := c.Wait()
		if code != 143 {
			t.Fatalf("exit %d, want 143 (sleep killed by the forwarded SIGTERM)", code)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Fatalf("Stop took %s", d)
		}
	})
	t.Run("orphans are reaped", func(t *testing.T) {
		cfg := config(t, "sh", "-c", `for i in 1 2 3; do sh -c 'sleep 0.1 &'; done; sleep 1; ps -o stat | grep -c Z`)
		cfg.Init = true
		out, errOut, _ := run(t, m, cfg)
		if strings.TrimSpace(out) != "0" {
			t.Fatalf("%q zombies (stderr %q), want 0", out, errOut)
		}
	})
	t.Run("a missing command is 127", func(t *testing.T) {
		cfg := config(t, "no-such-command")
		cfg.Init = true
		c, err := m.Start(cfg)
		if err == nil {
			_ = c.Destroy()
			t.Fatal("Start succeeded")
		}
		if code, _ := ExitCode(err); !errors.Is(err, ErrCommandNotFound) || code != 127 {
			t.Fatalf("Start: %v (exit code %d), want ErrCommandNotFound and 127", err, code)
		}
	})
}

// runStatic builds this package's tests as a static binary and runs the tests matching run in
// it; a machine that cannot link statically skips (fails in CI).
func runStatic(t *testing.T, run string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	tags := "netgo osusergo"
	if seccomp.Enabled {
		tags += " seccomp"
	}
	bin := filepath.Join(t.TempDir(), "container.test")
	build := exec.Command(goBin, "test", "-c", "-o", bin, "-tags", tags,
		"-ldflags", "-linkmode external -extldflags -static", ".")
	if out, err := build.CombinedOutput(); err != nil {
		skipOrFail(t, "Config.Init needs a static binary, and building one failed: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-test.run", run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), staticEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("static test binary:\n%s", out)
	if err != nil {
		t.Fatalf("the static test binary failed: %v", err)
	}
}
