package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
)

// runStep runs a RUN instruction in a container on the stage's root and keeps what it changed
// as a layer.
func (bd *build) runStep(ctx context.Context, st *state, c *instructions.RunCommand, label string, loc []parser.Range) error {
	network := bd.opts.network
	for _, flag := range c.FlagsUsed {
		switch flag {
		case "network":
			switch mode := instructions.GetNetwork(c); mode {
			case instructions.NetworkDefault:
			case instructions.NetworkHost:
				network = "host"
			case instructions.NetworkNone:
				network = ""
			default:
				return bd.df.unsupported(loc, "RUN --network=%s is not supported", mode)
			}
		case "mount":
		default:
			return bd.df.unsupported(loc, "RUN --%s is not supported by the embedded builder", flag)
		}
	}
	mounts, err := bd.planMounts(ctx, st, c, label, loc)
	if err != nil {
		return err
	}
	args, script, err := runArgs(st, c)
	if err != nil {
		return bd.df.invalid(loc, "RUN: %v", err)
	}
	proc, err := container.ResolveProcess(runtime.ContainerSpec{Name: "build", Entrypoint: []string{}, Command: args, Env: st.argEnv()}, st.config)
	if err != nil {
		return bd.df.invalid(loc, "RUN: %v", err)
	}
	inputs := append([]string{network, script, proc.User, proc.Cwd}, append(slices.Clone(proc.Args), proc.Env...)...)
	// What the mounts show is part of the key (a bind mount's content, a secret's presence),
	// and so are the extra hosts; a cache mount's content and a secret's value are not.
	for _, m := range mounts {
		inputs = append(inputs, "mount "+m.key)
	}
	for _, h := range bd.spec.ExtraHosts {
		inputs = append(inputs, "host "+h)
	}
	key := st.key("RUN", inputs...)
	if bd.cached(st, key, label) {
		return nil
	}
	bd.progress(runtime.BuildProgress{Step: label})
	// Proxy settings given as build args reach the command but not the cache key.
	for k, v := range bd.buildArgs {
		if proxyArgs[k] && !hasEnv(proc.Env, k) {
			proc.Env = append(proc.Env, k+"="+v)
		}
	}
	return bd.change(ctx, st, key, func(rootfs string) error {
		setup := &runSetup{}
		defer setup.release()
		if err := bd.setupMounts(filepath.Dir(rootfs), mounts, setup); err != nil {
			return bd.df.At(loc, err)
		}
		// Secrets given as environment variables reach the command, never the key.
		proc := proc
		proc.Env = append(slices.Clone(proc.Env), setup.env...)
		out := &lineWriter{step: label, progress: bd.progress}
		code, err := bd.runContainer(ctx, rootfs, proc, network, script, setup, out)
		if err != nil {
			return bd.df.At(loc, fmt.Errorf("%s: %w", firstLine(c.String()), err))
		}
		if code != 0 {
			return bd.df.At(loc, &RunError{Instruction: firstLine(c.String()), Command: proc.Args, ExitCode: code, Output: out.tail()})
		}
		return nil
	})
}

// RunError is a RUN instruction whose command failed.
type RunError struct {
	// Instruction is the RUN as the Dockerfile has it (its first line).
	Instruction string
	// Command is the command line that ran.
	Command  []string
	ExitCode int
	// Output is the end of the command's output.
	Output string
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("%s: process %q did not complete successfully: exit code %d",
		e.Instruction, strings.Join(e.Command, " "), e.ExitCode)
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return msg
}

// runArgs is RUN's command line: the exec form as it is, the shell form through SHELL. A
// heredoc is the script itself; with a #! line, it is run as a file (script names its content).
func runArgs(st *state, c *instructions.RunCommand) (args []string, script string, err error) {
	args = c.CmdLine
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, "", errors.New("a heredoc RUN must use the shell form")
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				return []string{path.Join("/dev/pipes", c.Files[0].Name)}, data, nil
			}
			args = []string{data}
		} else {
			full := args[0]
			for _, f := range c.Files {
				full += "\n" + f.Data + f.Name
			}
			args = []string{full}
		}
	}
	if c.PrependShell {
		if len(args) == 0 {
			return nil, "", errors.New("no command")
		}
		return st.shell(strings.Join(args, " ")), "", nil
	}
	if len(args) == 0 {
		return nil, "", errors.New("no command")
	}
	return args, "", nil
}

// mountTargets are the paths every container start mounts on, created in the rootfs when
// they are missing; the layer must not keep them.
var mountTargets = []string{"/etc/resolv.conf", "/etc/hosts", "/etc", "/proc", "/sys", "/dev"}

// runContainer runs proc in a container on rootfs and returns its exit code. Its output goes
// to out. script, when set, is mounted as the file the command names; setup adds the RUN's
// own mounts.
func (bd *build) runContainer(ctx context.Context, rootfs string, proc container.Process, network, script string, setup *runSetup, out *lineWriter) (int, error) {
	stepDir := filepath.Dir(rootfs)
	var mounts []container.Mount
	if network == "host" {
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
			if f == "/etc/hosts" && len(bd.spec.ExtraHosts) > 0 {
				continue // written below
			}
			if src, err := filepath.EvalSymlinks(f); err == nil {
				mounts = append(mounts, container.Mount{Source: src, Target: f, ReadOnly: true})
			}
		}
	}
	if len(bd.spec.ExtraHosts) > 0 {
		hosts, err := hostsFile(stepDir, network, bd.spec.ExtraHosts)
		if err != nil {
			return -1, err
		}
		mounts = append(mounts, container.Mount{Source: hosts, Target: "/etc/hosts", ReadOnly: true})
	}
	mounts = append(mounts, setup.mounts...)
	if script != "" {
		p := filepath.Join(stepDir, "script")
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			return -1, err
		}
		mounts = append(mounts, container.Mount{Source: p, Target: proc.Args[0], ReadOnly: true})
	}
	// What the start creates to mount on goes after, unless the command put something in it:
	// no layer keeps a mount point of its own.
	targets := slices.Clone(mountTargets)
	for _, m := range mounts {
		targets = append(targets, m.Target)
	}
	for t := range setup.tmpfs {
		targets = append(targets, t)
	}
	created := missingPaths(rootfs, targets)
	defer removeCreated(rootfs, created)

	buf := make([]byte, 6)
	if _, err := rand.Read(buf); err != nil {
		return -1, err
	}
	id := "build-" + hex.EncodeToString(buf)
	// A crashed build's container is found (and destroyed) by the next build through this file.
	if err := os.WriteFile(filepath.Join(stepDir, "container"), []byte(id), 0o600); err != nil {
		return -1, err
	}
	proc.Stdout, proc.Stderr = out, out
	cfg := container.Config{ID: id, Rootfs: rootfs, Process: proc, Network: network, Mounts: mounts, Tmpfs: setup.tmpfs}
	cfg.Resources.ShmSize = bd.spec.ShmSize
	cfg.Ulimits = bd.spec.Ulimits
	c, err := bd.Containers.Start(cfg)
	if err != nil {
		os.Remove(filepath.Join(stepDir, "container"))
		if code, ok := container.ExitCode(err); ok {
			out.Write([]byte(err.Error() + "\n"))
			return code, nil
		}
		return -1, err
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			_ = c.Stop(syscall.SIGKILL, 0)
		case <-stop:
		}
	}()
	code, err := c.Wait()
	close(stop)
	<-stopped
	out.flush()
	if derr := c.Destroy(); derr != nil && err == nil {
		err = derr
	}
	os.Remove(filepath.Join(stepDir, "container"))
	if err != nil {
		return -1, err
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return code, nil
}

// missingPaths lists the paths of the rootfs that mounting on targets would create: each
// target and its missing parents, deepest first.
func missingPaths(rootfs string, targets []string) []string {
	cp := &copier{root: rootfs}
	seen := map[string]bool{}
	var out []string
	for _, t := range targets {
		for p := path.Clean(t); p != "/" && !seen[p]; p = path.Dir(p) {
			host, err := cp.resolve(p)
			if err != nil {
				break
			}
			if _, err := os.Lstat(host); !errors.Is(err, os.ErrNotExist) {
				break
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// removeCreated removes what missingPaths listed, where it is empty: the command may have
// written into a parent of a mount point, and that stays.
func removeCreated(rootfs string, created []string) {
	cp := &copier{root: rootfs}
	for _, p := range created {
		if host, err := cp.resolve(p); err == nil {
			_ = os.Remove(host)
		}
	}
}

// lineWriter sends a RUN's output to progress one line at a time and keeps its last lines.
type lineWriter struct {
	step     string
	progress func(runtime.BuildProgress)

	mu    sync.Mutex
	buf   []byte
	lines []string
}

// tailLines is how many lines of output a failed RUN's error keeps.
const tailLines = 20

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) line(s string) {
	w.progress(runtime.BuildProgress{Step: w.step, Text: s})
	w.lines = append(w.lines, s)
	if len(w.lines) > tailLines {
		w.lines = w.lines[len(w.lines)-tailLines:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}
