package e2e_test

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/comp-dev/comp/internal/e2e"
	"github.com/comp-dev/comp/internal/testimage"
)

var moreScenarios = []scenario{
	{
		name: "image load runs a stack with no registry",
		compose: `
services:
  app:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			ref := "comp-e2e/loaded:" + p.Name[len(p.Name)-6:]
			img, err := testimage.Busybox(testimage.WithCmd("sh", "-c", "echo loaded image runs; trap 'exit 0' TERM; sleep 3600 & wait"))
			if err != nil {
				t.Fatal(err)
			}
			tag, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(t.TempDir(), "image.tar")
			if err := tarball.WriteToFile(archive, tag, img); err != nil {
				t.Fatal(err)
			}
			r := p.MustComp("image", "load", "-i", archive)
			if !strings.Contains(r.Stdout, "Loaded image: "+ref) {
				t.Errorf("image load says:\n%s", r.Stdout)
			}
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", ref) })
			p.Write(fmt.Sprintf("services:\n  app:\n    image: %s\n    pull_policy: never\n", ref))
			p.MustComp("up", "-d")
			e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
				if out := p.CompQuiet("logs", "app").Stdout; !strings.Contains(out, "loaded image runs") {
					return fmt.Errorf("logs: %q", out)
				}
				return nil
			})
			p.MustComp("down", "-t", "1")
			if out := p.MustComp("image", "rm", ref).Stdout; !strings.Contains(out, ref) {
				t.Errorf("image rm says %q", out)
			}
		},
	},
	{
		name: "tty and stdin_open keep containers up, as on Docker",
		compose: `
services:
  term:
    image: ${REGISTRY}/busybox:latest
    tty: true
    command: ["sh", "-c", "tty; trap 'exit 0' TERM; sleep 3600 & wait"]
  reader:
    image: ${REGISTRY}/busybox:latest
    stdin_open: true
    command: ["cat"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
				if out := p.CompQuiet("logs", "--no-log-prefix", "term").Stdout; !strings.Contains(out, "/dev/pts/") {
					return fmt.Errorf("term's tty: %q", out)
				}
				return nil
			})
			ids(t, p.PS(false), 2) // cat on an open stdin is still running

			// exec with a terminal: run under script(1), which gives comp a pty as a user's
			// terminal would.
			if _, err := exec.LookPath("script"); err != nil {
				t.Fatal("script(1) is missing (Debian: bsdutils): cannot give exec a terminal")
			}
			line := fmt.Sprintf("%s -p %s --runtime %s exec reader sh -c 'tty; exit 7'", e2e.Binary(t), p.Name, p.Runtime)
			cmd := exec.Command("script", "-qec", line, "/dev/null")
			cmd.Dir = p.Dir
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 7 || !strings.Contains(string(out), "/dev/pts/") {
				t.Errorf("exec with a terminal: %v, output %q; want a pty and exit code 7", err, out)
			}
		},
	},
}

func init() { scenarios = append(scenarios, moreScenarios...) }
