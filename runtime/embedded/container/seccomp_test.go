package container

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	goruntime "runtime"
	"testing"
	"unsafe"

	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The default profile is Docker's, for the container's capabilities, architectures and all.
func TestDefaultProfileIsDockers(t *testing.T) {
	if !SeccompSupported() {
		t.Skip("built without -tags seccomp")
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}}}
	p, err := seccompProfile("", spec)
	if err != nil {
		t.Fatal(err)
	}
	docker, err := profiles.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, docker) {
		t.Errorf("default profile differs from Docker's: architectures %v, want %v", p.Architectures, docker.Architectures)
	}
}

// A profile is compiled once: the next container with the same profile gets the same
// program, and a different profile (here, one more capability) gets its own.
func TestCompiledSeccompOncePerProfile(t *testing.T) {
	if !SeccompSupported() {
		t.Skip("built without -tags seccomp")
	}
	compile := func(caps ...string) *configs.SeccompProgram {
		t.Helper()
		c, err := defaultSeccompConfig(caps...)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := compiledSeccomp(c)
		if err != nil {
			t.Fatal(err)
		}
		if c.Program != nil {
			t.Fatal("compiledSeccomp must not change the profile it is given")
		}
		return prog
	}
	first, again := compile("CAP_CHOWN"), compile("CAP_CHOWN")
	if first != again {
		t.Error("the same profile was compiled twice")
	}
	if n := len(first.Filter); n == 0 || n%8 != 0 {
		t.Errorf("program of %d bytes: want whole struct sock_filter instructions", n)
	}
	if other := compile("CAP_CHOWN", "CAP_SYS_ADMIN"); bytes.Equal(other.Filter, first.Filter) {
		t.Error("CAP_SYS_ADMIN allows more system calls, yet its program is the same")
	}
}

// defaultSeccompConfig is Docker's default profile for a process with caps, as libcontainer
// takes it.
func defaultSeccompConfig(caps ...string) (*configs.Seccomp, error) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := seccompProfile("", spec)
	if err != nil {
		return nil, err
	}
	return specconv.SetupSeccomp(p)
}

// The program compiled ahead is, instruction for instruction, the filter that libcontainer's
// own path (libseccomp in the init, then runc's -ENOSYS stub) installs, and loading it
// installs exactly that. The kernel tells: PTRACE_SECCOMP_GET_FILTER reads back the filter of
// a helper process that loaded the profile one way or the other.
func TestCompiledSeccompIsTheFilterLibcontainerLoads(t *testing.T) {
	if !SeccompSupported() {
		t.Skip("built without -tags seccomp")
	}
	if os.Getuid() != 0 {
		skipOrFail(t, "reading a seccomp filter back needs CAP_SYS_ADMIN")
	}
	c, err := defaultSeccompConfig("CAP_CHOWN", "CAP_KILL")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compiledSeccomp(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{seccompHelperCompile, seccompHelperProgram} {
		got := loadedSeccompFilter(t, how)
		if !bytes.Equal(got, prog.Filter) {
			t.Errorf("%s: the kernel holds %d instructions, the compiled program has %d, or they differ",
				how, len(got)/8, len(prog.Filter)/8)
		}
	}
}

// seccompHelperEnv makes the test binary a helper that loads the default profile into one of
// its threads, prints that thread's ID and waits for its standard input to close.
const seccompHelperEnv = "COMP_SECCOMP_TEST_HELPER"

// How the helper loads the profile: through libcontainer's compiling path, or the program.
const (
	seccompHelperCompile = "compile"
	seccompHelperProgram = "program"
)

// seccompHelper is the helper's main.
func seccompHelper(how string) int {
	goruntime.LockOSThread() // the filter is the calling thread's; the parent reads it there
	c, err := defaultSeccompConfig("CAP_CHOWN", "CAP_KILL")
	if err == nil && how == seccompHelperProgram {
		c.Program, err = seccomp.Compile(c)
	}
	if err == nil {
		_, err = seccomp.InitSeccomp(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(unix.Gettid())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// loadedSeccompFilter runs the helper and returns the filter the kernel holds for its thread.
func loadedSeccompFilter(t *testing.T, how string) []byte {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), seccompHelperEnv+"="+how)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	var tid int
	if _, err := fmt.Fscanln(stdout, &tid); err != nil {
		t.Fatalf("%s helper: %v", how, err)
	}

	// ptrace requests must come from the thread that attached.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	if err := unix.PtraceAttach(tid); err != nil {
		t.Fatalf("attach %d: %v", tid, err)
	}
	defer func() { _ = unix.PtraceDetach(tid) }()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		t.Fatalf("wait for %d to stop: %v (status %v)", tid, err, ws)
	}
	const ptraceSeccompGetFilter = 0x420c
	n, _, errno := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetFilter, uintptr(tid), 0, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER %d: %v", tid, errno)
	}
	filter := make([]byte, n*8)
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetFilter, uintptr(tid), 0,
		uintptr(unsafe.Pointer(&filter[0])), 0, 0); errno != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER %d: %v", tid, errno)
	}
	return filter
}

// WarmSeccomp compiles the very program a container with the default profile and
// capabilities needs: starting one afterwards compiles nothing.
func TestWarmSeccompCompilesWhatAStartNeeds(t *testing.T) {
	requireRoot(t)
	if !SeccompSupported() {
		skipOrFail(t, "built without -tags seccomp")
	}
	compiled := func() int {
		seccompPrograms.Lock()
		defer seccompPrograms.Unlock()
		return seccompPrograms.compiled
	}
	seccompPrograms.Lock()
	clear(seccompPrograms.byProfile)
	seccompPrograms.Unlock()

	before := compiled()
	WarmSeccomp()
	if compiled() != before+1 {
		t.Fatalf("WarmSeccomp compiled %d programs, want 1", compiled()-before)
	}
	m := newManager(t)
	if _, errOut, code := run(t, m, config(t, "true")); code != 0 {
		t.Fatalf("true exited %d: %s", code, errOut)
	}
	if n := compiled() - before; n != 1 {
		t.Errorf("the start compiled again (%d programs in all): WarmSeccomp's profile is not the default container's", n)
	}
}

// A program compiled by one process is read back by the next (the supervisor of the next
// `up`), not compiled again; a damaged file is compiled again and replaced.
func TestSeccompCacheOutlivesTheProcess(t *testing.T) {
	if !SeccompSupported() {
		t.Skip("built without -tags seccomp")
	}
	if seccompCompilerID() == "" {
		t.Fatal("this executable has no build ID: the cache would never be used")
	}
	dir := t.TempDir()
	UseSeccompCache(dir)
	t.Cleanup(func() { UseSeccompCache("") })
	forget := func() {
		seccompPrograms.Lock()
		clear(seccompPrograms.byProfile)
		seccompPrograms.Unlock()
	}
	compiled := func() int {
		seccompPrograms.Lock()
		defer seccompPrograms.Unlock()
		return seccompPrograms.compiled
	}
	c, err := defaultSeccompConfig("CAP_CHOWN", "CAP_NET_RAW")
	if err != nil {
		t.Fatal(err)
	}
	forget()
	before := compiled()
	first, err := compiledSeccomp(c)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 || compiled() != before+1 {
		t.Fatalf("after one compilation: %d programs compiled, files %v; want 1 and 1", compiled()-before, files)
	}

	forget() // as a new process would start
	again, err := compiledSeccomp(c)
	if err != nil {
		t.Fatal(err)
	}
	if compiled() != before+1 || !bytes.Equal(again.Filter, first.Filter) || again.Flags != first.Flags {
		t.Fatalf("the next process compiled again (%d in all) or read another program", compiled()-before)
	}

	if err := os.WriteFile(files[0], []byte(`{"filter":"AAAA"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	forget()
	repaired, err := compiledSeccomp(c)
	if err != nil {
		t.Fatal(err)
	}
	if compiled() != before+2 || !bytes.Equal(repaired.Filter, first.Filter) {
		t.Fatalf("a damaged file was used (%d compiled in all)", compiled()-before)
	}
	if p := readCachedSeccomp(files[0]); p == nil || !bytes.Equal(p.Filter, first.Filter) {
		t.Fatal("the damaged file was not replaced")
	}
}
