// Package core carries the embedded runtime's lean binary inside comp and installs it where the
// supervisor runs from.
//
// Every process the embedded runtime keeps or starts — a project's supervisor, each container's
// init re-exec (libcontainer runs /proc/self/exe init), the minimal init of `init: true` — runs
// the binary its parent runs. comp itself links compose-go, the Docker client and BuildKit's
// parser: 34 MB, whose package initialisers cost about 7 ms and 2.5 MB per process, and whose
// touched pages made most of the supervisor's 33 MiB. cmd/comp-core links only what those
// processes need (16 MB). `go run ./internal/buildcomp` embeds it here; comp writes it once to
// the state folder and starts supervisors from there, so comp stays one file to install.
package core

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/comp-dev/comp/runtime/embedded/state"
	"golang.org/x/sys/unix"
)

// binFS holds bin/comp-core and bin/comp-core.sha256 when the build tool laid them there;
// otherwise only bin/README.md.
//
//go:embed bin
var binFS embed.FS

const (
	binaryName = "comp-core"
	// filePrefix starts the name of every installed core: comp-core-<first 16 hex of sha256>.
	filePrefix = binaryName + "-"
)

// Embedded reports whether this comp binary carries the lean core.
func Embedded() bool {
	_, err := fs.Stat(binFS, "bin/"+binaryName)
	return err == nil
}

// Executable returns the binary a supervisor is started from: the embedded core, installed in
// dir (the state's bin folder) on first use, or this process's own executable when comp was
// built without a core (plain `go build`).
func Executable(dir string) (string, error) {
	f, err := binFS.Open("bin/" + binaryName)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Executable()
	}
	if err != nil {
		return "", fmt.Errorf("read the embedded core: %w", err)
	}
	defer f.Close()
	if mountedNoexec(dir) {
		// The core could be written there but not run (COMP_ROOT under a noexec /tmp, say):
		// the supervisor runs comp itself, as in a build without a core.
		return os.Executable()
	}
	digest := ""
	if b, err := binFS.ReadFile("bin/" + binaryName + ".sha256"); err == nil {
		digest = strings.TrimSpace(string(b))
	}
	// The embedded file is read where it lies in the binary, not copied to the heap: 16 MB.
	return install(dir, f.(io.ReadSeeker), digest)
}

// installMu makes the goroutines of one comp (an up starts many containers at once, each of
// which may start the supervisor) install the core once, one after the other.
var installMu sync.Mutex

// install writes bin to dir as comp-core-<digest prefix> unless a file of that name and size is
// there, and returns its path. The digest names the version, so comps of different builds
// never overwrite each other's core while a supervisor runs it; digest is computed when empty.
func install(dir string, bin io.ReadSeeker, digest string) (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	size, err := bin.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("embedded core: %w", err)
	}
	if digest == "" {
		h := sha256.New()
		if _, err := bin.Seek(0, io.SeekStart); err != nil {
			return "", fmt.Errorf("embedded core: %w", err)
		}
		if _, err := io.Copy(h, bin); err != nil {
			return "", fmt.Errorf("embedded core: %w", err)
		}
		digest = hex.EncodeToString(h.Sum(nil))
	}
	if len(digest) < 16 {
		return "", fmt.Errorf("embedded core: malformed digest %q", digest)
	}
	path := filepath.Join(dir, filePrefix+digest[:16])
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install the embedded core: %w", err)
	}
	removeUnused(dir, path)
	// Written aside and renamed: a racing comp, or a crash half-way, never leaves a partial
	// binary under the final name.
	if _, err := bin.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("embedded core: %w", err)
	}
	tmp, err := writeExecutable(dir, bin)
	if err != nil {
		return "", fmt.Errorf("install the embedded core: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("install the embedded core: %w", err)
	}
	return path, nil
}

// writeExecutable writes bin to a new file in dir, mode 0755, and returns its path.
//
// No process is forked while the file is open for writing (syscall.ForkLock): a child forked
// then would hold the write descriptor until its own exec, and the exec of this very file by
// such a child (another goroutine starting the supervisor) would fail with "text file busy".
func writeExecutable(dir string, bin io.Reader) (string, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := os.CreateTemp(dir, ".tmp-"+binaryName+"-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, bin)
	if err == nil {
		err = f.Chmod(0o755)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// removeUnused deletes the cores of other comp builds in dir that no process runs, so that
// rebuilding comp does not pile up 16 MB files. One that runs (a supervisor an older comp
// started) stays until a later install finds it unused.
func removeUnused(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var stale []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p != keep && strings.HasPrefix(e.Name(), filePrefix) {
			stale = append(stale, p)
		}
	}
	if len(stale) == 0 {
		return
	}
	running := map[string]bool{}
	for _, exe := range state.Executables() {
		running[exe] = true
	}
	for _, p := range stale {
		if !running[p] {
			os.Remove(p)
		}
	}
}

// mountedNoexec reports whether dir, or the nearest folder above it that exists, is on a file
// system mounted noexec. When it cannot tell, it answers false: the install goes ahead.
func mountedNoexec(dir string) bool {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Flags&unix.ST_NOEXEC != 0
		}
		if !errors.Is(err, unix.ENOENT) || p == filepath.Dir(p) {
			return false
		}
	}
}
