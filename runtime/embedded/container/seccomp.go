package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/comp-dev/comp/runtime"
	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
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

// compiledSeccomp is the program of filter c, compiled once per profile in this process
// (and kept for the next one when UseSeccompCache says where).
//
// libcontainer compiled the filter with libseccomp in every container's init: for Docker's
// default profile, 12–14 ms of CPU per container start with libseccomp 2.5.4, a quarter of the
// CPU time of starting 20 containers. Our copy of libcontainer (internal/third_party/runc,
// PATCHES.md) loads a program compiled ahead instead, built by the same code, so the filter
// is the same and only where it is compiled changes.
func compiledSeccomp(c *configs.Seccomp) (*configs.SeccompProgram, error) {
	key, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	seccompPrograms.Lock()
	defer seccompPrograms.Unlock()
	if p, ok := seccompPrograms.byProfile[string(key)]; ok {
		return p, nil
	}
	path := seccompCachePath(key)
	p := readCachedSeccomp(path)
	if p == nil {
		if p, err = seccomp.Compile(c); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
		seccompPrograms.compiled++
		writeCachedSeccomp(path, p)
	}
	// Profiles differ by capabilities and by security_opt files, so a process sees few; the
	// bound only keeps an unusual one from growing without end.
	if len(seccompPrograms.byProfile) >= maxSeccompPrograms {
		clear(seccompPrograms.byProfile)
	}
	seccompPrograms.byProfile[string(key)] = p
	return p, nil
}

// WarmSeccomp compiles the program of Docker's default profile for Docker's default
// capabilities, which most containers get, so that the first container started does not
// wait for it (8–14 ms, while every other start waits behind it). The supervisor calls it
// when it starts; an error is left for the start that needs the program to report.
func WarmSeccomp() {
	if !SeccompSupported() {
		return
	}
	caps, err := capabilities(&Config{})
	if err != nil {
		return
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Permitted: caps, Effective: caps}}}
	p, err := seccompProfile("", spec)
	if err != nil {
		return
	}
	if c, err := specconv.SetupSeccomp(p); err == nil {
		_, _ = compiledSeccomp(c)
	}
}

// maxSeccompPrograms bounds the compiled programs kept: Docker's default is about 10 KiB.
const maxSeccompPrograms = 32

// seccompPrograms holds the compiled programs by the JSON of their libcontainer profile.
var seccompPrograms = struct {
	sync.Mutex
	byProfile map[string]*configs.SeccompProgram
	compiled  int // programs compiled so far, for tests
}{byProfile: map[string]*configs.SeccompProgram{}}
