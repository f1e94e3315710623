// Command buildcomp builds comp as it ships: one static binary, with seccomp, carrying the lean
// core (cmd/comp-core) that its supervisors and container inits run (package
// runtime/embedded/core says why).
//
//	go run ./internal/buildcomp -o /usr/local/bin/comp
//
// It builds cmd/comp-core into a temporary folder, then cmd/comp with `go build -overlay`
// placing that binary and its digest in runtime/embedded/core/bin, so nothing is written into
// the source tree. README's set-up, the e2e suite and the benchmark all build comp this way.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tags and LDFlags make the static, seccomp-enabled build README documents: netgo and osusergo
// keep glibc's NSS out of a static binary; the external linker links libseccomp statically.
const (
	defaultTags = "seccomp netgo osusergo"
	staticFlags = "-linkmode external -extldflags -static"
)

func main() {
	out := flag.String("o", "comp", "where to write the comp binary")
	tags := flag.String("tags", defaultTags, "build tags for both binaries")
	ldflags := flag.String("ldflags", staticFlags, "linker flags for both binaries")
	noCore := flag.Bool("no-core", false, "build comp without the lean core (its supervisors then run comp itself)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "buildcomp: no arguments expected; see -h")
		os.Exit(2)
	}
	if err := build(*out, *tags, *ldflags, !*noCore); err != nil {
		fmt.Fprintln(os.Stderr, "buildcomp:", err)
		os.Exit(1)
	}
}

// build writes comp to out, with the core embedded when withCore.
func build(out, tags, ldflags string, withCore bool) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return err
	}
	args := []string{"build", "-tags", tags, "-ldflags", ldflags}
	if withCore {
		tmp, err := os.MkdirTemp("", "buildcomp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		overlay, err := buildCore(root, tmp, tags, ldflags)
		if err != nil {
			return err
		}
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "-o", out, "./cmd/comp")
	return goCmd(root, args...)
}

// buildCore builds cmd/comp-core into dir and returns the path of an overlay file that lays it
// and its sha256 into runtime/embedded/core/bin.
func buildCore(root, dir, tags, ldflags string) (string, error) {
	bin := filepath.Join(dir, "comp-core")
	if err := goCmd(root, "build", "-tags", tags, "-ldflags", ldflags, "-o", bin, "./cmd/comp-core"); err != nil {
		return "", err
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	digest := filepath.Join(dir, "comp-core.sha256")
	if err := os.WriteFile(digest, []byte(hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		return "", err
	}
	target := filepath.Join(root, "runtime", "embedded", "core", "bin")
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(target, "comp-core"):        bin,
		filepath.Join(target, "comp-core.sha256"): digest,
	}})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, overlay, 0o644)
}

// moduleRoot is the folder of comp's go.mod, found from the working folder.
func moduleRoot() (string, error) {
	b, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run it from comp's repository")
	}
	return filepath.Dir(mod), nil
}

// goCmd runs the go command in dir, its output passed through.
func goCmd(dir string, args ...string) error {
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goTool is the go command of the running toolchain (go run sets GOROOT), else the one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
