package container

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"

	"github.com/comp-dev/comp/runtime/embedded/state"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"
)

// A compiled seccomp program outlives the supervisor that compiled it: each project's
// supervisor exits when its last container is gone, so an `up` from nothing usually starts a
// new one, and its first container would wait for libseccomp again (20–30 ms with the other
// starts competing for the CPU). The program is kept in a file named by everything that
// decides it: the profile, and the executable, libseccomp, kernel and architecture that
// compiled it. The folder is under the run folder (/run/comp: gone at reboot, root only).

// seccompCacheDir is the folder of compiled programs; "" keeps them in memory only.
var seccompCacheDir struct {
	sync.Mutex
	dir string
}

// UseSeccompCache keeps compiled seccomp programs in dir too, for the next process. The
// supervisor calls it when it starts.
func UseSeccompCache(dir string) {
	seccompCacheDir.Lock()
	defer seccompCacheDir.Unlock()
	seccompCacheDir.dir = dir
}

// seccompCachePath is the file of profile's program, or "" when there is no cache folder or
// this executable cannot be identified (then a program from another build could be read).
func seccompCachePath(profile []byte) string {
	seccompCacheDir.Lock()
	dir := seccompCacheDir.dir
	seccompCacheDir.Unlock()
	compiler := seccompCompilerID()
	if dir == "" || compiler == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(compiler))
	h.Write([]byte{0})
	h.Write(profile)
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".json")
}

// readCachedSeccomp returns the program in path, or nil when there is none or it is not a
// whole program.
func readCachedSeccomp(path string) *configs.SeccompProgram {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var p configs.SeccompProgram
	if json.Unmarshal(b, &p) != nil || len(p.Filter) == 0 || len(p.Filter)%8 != 0 {
		return nil
	}
	return &p
}

// writeCachedSeccomp stores p in path for the next process; failing only costs it a compile.
func writeCachedSeccomp(path string, p *configs.SeccompProgram) {
	if path == "" {
		return
	}
	b, err := json.Marshal(p)
	if err != nil || os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	_ = state.WriteFileAtomic(path, b)
}

// seccompCompilerID names what decides a compiled program besides the profile: this
// executable (its build IDs: the libcontainer code and the libseccomp linked in), the
// libseccomp version, the kernel (the filter flags it supports) and the architecture.
var seccompCompilerID = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	var ids []byte
	for _, name := range []string{".note.gnu.build-id", ".note.go.buildid"} {
		if s := f.Section(name); s != nil {
			if data, err := s.Data(); err == nil {
				ids = append(ids, data...)
			}
		}
	}
	if len(ids) == 0 {
		return ""
	}
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return ""
	}
	major, minor, micro := seccomp.Version()
	return fmt.Sprintf("comp seccomp program v1; %x; libseccomp %d.%d.%d; %s %s; %s",
		sha256.Sum256(ids), major, minor, micro,
		unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Version[:]), goruntime.GOARCH)
})
