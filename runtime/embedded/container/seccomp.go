package container

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/comp-dev/comp/runtime"
	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SeccompSupported reports whether containers get a seccomp filter: the binary was built with
// the seccomp tag (and so links libseccomp) and the kernel supports seccomp filters.
func SeccompSupported() bool { return seccompSupported() }

var seccompSupported = sync.OnceValue(func() bool {
	if !seccomp.Enabled {
		return false
	}
	if major, _, _ := seccomp.Version(); major < 2 {
		return false
	}
	// PR_GET_SECCOMP fails with EINVAL on a kernel built without seccomp.
	_, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	return !errors.Is(err, unix.EINVAL)
})

// seccompProfile converts Docker's default profile ("") or the profile file at name for spec,
// whose capabilities must be set (the profile allows some syscalls only with some capabilities).
func seccompProfile(name string, spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	if name == "" {
		p, err := profiles.GetDefaultProfile(spec)
		if err != nil {
			return nil, fmt.Errorf("seccomp default profile: %w", err)
		}
		return p, nil
	}
	body, err := os.ReadFile(name)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("seccomp profile: %w", err))
	}
	p, err := profiles.LoadProfile(string(body), spec)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("seccomp profile %s: %w", name, err))
	}
	return p, nil
}
