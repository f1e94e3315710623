package e2e_test

import (
	"strings"
	"testing"

	"github.com/comp-dev/comp/internal/e2e"
)

var securityScenarios = []scenario{
	{
		// Docker's default seccomp profile denies unshare without CAP_SYS_ADMIN, which a new
		// user namespace does not otherwise need; with the capability, the profile allows it.
		// On the embedded runtime each profile here is compiled once by the supervisor, and
		// the container and an exec'd process load that program.
		name: "seccomp: Docker's default profile, cap_add and seccomp=unconfined",
		compose: `
services:
  confined:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  sysadmin:
    image: ${REGISTRY}/busybox:latest
    command: ["unshare", "-U", "true"]
    cap_add: [SYS_ADMIN]
  unconfined:
    image: ${REGISTRY}/busybox:latest
    command: ["unshare", "-U", "true"]
    security_opt: ["seccomp=unconfined"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			for _, svc := range []string{"unconfined", "sysadmin"} {
				if r := p.Comp("run", "--rm", svc); r.ExitCode != 0 {
					t.Errorf("%s: unshare -U exited %d, want 0 (the kernel must allow it for this test to mean anything)", svc, r.ExitCode)
				}
			}
			r := p.Comp("run", "--rm", "confined", "unshare", "-U", "true")
			if r.ExitCode == 0 || !strings.Contains(r.Stdout+r.Stderr, "Operation not permitted") {
				t.Errorf("default profile: unshare -U exited %d; want EPERM from the filter", r.ExitCode)
			}
			p.MustComp("up", "-d", "confined")
			r = p.Comp("exec", "-T", "confined", "unshare", "-U", "true")
			if r.ExitCode == 0 || !strings.Contains(r.Stdout+r.Stderr, "Operation not permitted") {
				t.Errorf("exec under the default profile: unshare -U exited %d; want EPERM", r.ExitCode)
			}
			if r := p.MustComp("exec", "-T", "confined", "grep", "^Seccomp:", "/proc/self/status"); !strings.Contains(r.Stdout, "2") {
				t.Errorf("exec'd process: %q, want seccomp mode 2 (filter)", r.Stdout)
			}
		},
	},
}

func init() { scenarios = append(scenarios, securityScenarios...) }
