package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	"github.com/comp-dev/comp/runtime"
	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/configs"
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
		return withoutDeadArchitectures(p, x32Supported()), nil
	}
	body, err := os.ReadFile(name)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("seccomp profile: %w", err))
	}
	p, err := profiles.LoadProfile(string(body), spec)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("seccomp profile %s: %w", name, err))
	}
	return withoutDeadArchitectures(p, x32Supported()), nil
}

// withoutDeadArchitectures drops SCMP_ARCH_X32 from p when the kernel cannot run x32 code.
//
// Every container's init compiles its filter with libseccomp, for each architecture the
// profile lists: Docker's default lists x86_64, x86 and x32, and that compilation was half of
// a container start's CPU time (12.6 ms warm for the three, 5.8 ms without x32). A kernel
// without the x32 ABI (Debian's and most distributions' default) answers any x32 system call
// with ENOSYS, and so does the filter without x32: runc's ENOSYS stub returns ENOSYS for every
// x86_64-arch number past the profile's last one, which includes all x32 numbers. So the
// filter behaves the same, and only its compilation gets cheaper.
func withoutDeadArchitectures(p *specs.LinuxSeccomp, x32 bool) *specs.LinuxSeccomp {
	if x32 || p == nil {
		return p
	}
	p.Architectures = slices.DeleteFunc(p.Architectures, func(a specs.Arch) bool { return a == specs.ArchX32 })
	return p
}

// x32Supported reports whether this kernel runs x32 system calls: an x32 getpid (the x86_64
// number with bit 30 set) fails with ENOSYS when it does not. Off amd64, or when comp itself
// runs under a seccomp filter (which might kill the probe), it answers true: keep what the
// profile says.
var x32Supported = sync.OnceValue(func() bool {
	if goruntime.GOARCH != "amd64" || underSeccomp() {
		return true
	}
	const x32SyscallBit = 0x40000000
	_, _, errno := unix.RawSyscall(x32SyscallBit|39 /* getpid on x86_64 and x32 */, 0, 0, 0)
	return errno != unix.ENOSYS
})

// underSeccomp reports whether this process runs under a seccomp filter or strict mode
// (the Seccomp line of /proc/self/status is not 0), or cannot tell.
func underSeccomp() bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(rest) != "0"
		}
	}
	return true
}

// compiledSeccomp is the program of filter c, compiled once per profile in this process.
//
// libcontainer compiled the filter with libseccomp in every container's init: for Docker's
// default profile, x86_64 and x86, 12–14 ms of CPU per container start, a quarter of all the
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
	p, err := seccomp.Compile(c)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	// Profiles differ by capabilities and by security_opt files, so a process sees few; the
	// bound only keeps an unusual one from growing without end.
	if len(seccompPrograms.byProfile) >= maxSeccompPrograms {
		clear(seccompPrograms.byProfile)
	}
	seccompPrograms.byProfile[string(key)] = p
	return p, nil
}

// maxSeccompPrograms bounds the compiled programs kept: one is about 7 KiB.
const maxSeccompPrograms = 32

// seccompPrograms holds the compiled programs by the JSON of their libcontainer profile.
var seccompPrograms = struct {
	sync.Mutex
	byProfile map[string]*configs.SeccompProgram
}{byProfile: map[string]*configs.SeccompProgram{}}
