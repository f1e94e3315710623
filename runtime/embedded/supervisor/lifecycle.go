package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/fsutil"
	"github.com/comp-dev/comp/runtime/embedded/logfile"
	"github.com/comp-dev/comp/runtime/embedded/state"
	"github.com/comp-dev/comp/runtime/embedded/volume"
)

// defaultStopTimeout is Docker's grace period before SIGKILL.
const defaultStopTimeout = 10 * time.Second

func (s *Supervisor) volumes() volume.Store { return volume.Store{Dir: s.layout.Volumes()} }

// create records a new container: its image resolved, its name checked, its folder, FIFOs and
// anonymous volumes made. Nothing runs yet.
func (s *Supervisor) create(spec runtime.ContainerSpec) (string, error) {
	if err := state.CheckName("container", spec.Name); err != nil {
		return "", err
	}
	if spec.Labels[runtime.LabelProject] != s.project {
		return "", runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("create container %s: it is not labelled with project %s", spec.Name, s.project))
	}
	if err := CheckSupported(spec); err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	img, err := s.images.Get(spec.Image)
	if err != nil {
		return "", fmt.Errorf("create container %s: image %s: %w", spec.Name, spec.Image, err)
	}
	// Names are unique across projects, as on Docker; the lock keeps two supervisors from
	// taking one name at once.
	release, err := state.Lock(filepath.Join(s.layout.Run, "names.lock"), true)
	if err != nil {
		return "", err
	}
	defer release()
	if other, taken, err := s.names.Owner(spec.Name); err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	} else if taken {
		return "", runtime.Classify(runtime.ErrConflict,
			fmt.Errorf("create container %s: the name is already in use by container %s", spec.Name, other[:min(12, len(other))]))
	}
	id := newID()
	dir := s.layout.Container(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, f := range []string{"stdout", "stderr"} {
		if err := unix.Mkfifo(filepath.Join(dir, f), 0o600); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("create container %s: %w", spec.Name, err)
		}
	}
	rec := &state.Record{ID: id, Name: spec.Name, Created: time.Now().UTC(), Spec: spec,
		ImageID: img.ID, Layers: img.Layers, State: state.Created}
	if proc, err := container.ResolveProcess(spec, img.Config); err == nil {
		rec.Command = strings.Join(proc.Args, " ")
	}
	// Anonymous volumes: mounts with no source, and the image's VOLUMEs nothing else covers.
	covered := map[string]bool{}
	for i, m := range rec.Spec.Mounts {
		covered[m.Target] = true
		if m.Type == runtime.MountVolume && m.Source == "" {
			v, err := s.volumes().CreateAnonymous(nil)
			if err != nil {
				return "", err
			}
			rec.Spec.Mounts[i].Source = v.Name
			rec.Anonymous = append(rec.Anonymous, v.Name)
		}
	}
	inherited, err := s.volumesFrom(spec.VolumesFrom, covered)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	rec.Spec.Mounts = append(rec.Spec.Mounts, inherited...)
	for target := range img.Config.Volumes {
		if covered[target] || rec.Spec.Tmpfs[target] != "" {
			continue
		}
		v, err := s.volumes().CreateAnonymous(nil)
		if err != nil {
			return "", err
		}
		rec.Spec.Mounts = append(rec.Spec.Mounts, runtime.Mount{Type: runtime.MountVolume, Source: v.Name, Target: target})
		rec.Anonymous = append(rec.Anonymous, v.Name)
	}
	if err := s.layout.WriteRecord(rec); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	e, err := s.entry(id)
	if err != nil {
		return "", err
	}
	s.emit(e.rec, "create", 0)
	return id, nil
}

// CheckSupported refuses what the embedded runtime cannot do (yet) with spec, without touching
// anything: create calls it, and so does comp for every container of a plan before it creates
// any object (runtime.SpecChecker).
func CheckSupported(spec runtime.ContainerSpec) error {
	switch mode := spec.NetworkMode; {
	case mode == "bridge":
		return runtime.Classify(runtime.ErrNotImplemented, errors.New(
			"network_mode: bridge (Docker's default bridge network) is not supported by the embedded runtime: leave network_mode out to use the project's default network, or use --runtime docker"))
	case mode != "" && mode != "host" && mode != "none" && !strings.HasPrefix(mode, "container:"):
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("network_mode %q is not supported by the embedded runtime yet", mode))
	case len(spec.Ports) > 0 && !bridged(spec) && mode != "host":
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
			"published ports need a network: network_mode %q has none", mode))
	}
	for _, m := range spec.Mounts {
		if m.Type != runtime.MountBind && m.Type != runtime.MountVolume && m.Type != runtime.MountTmpfs {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("mount type %q is not supported by the embedded runtime", m.Type))
		}
	}
	for _, p := range spec.Ports {
		if proto := strings.ToLower(p.Protocol); proto != "" && proto != "tcp" && proto != "udp" {
			return runtime.Classify(runtime.ErrNotImplemented,
				fmt.Errorf("port %d/%s: only tcp and udp are supported by the embedded runtime", p.ContainerPort, proto))
		}
	}
	return nil
}

// volumesFrom returns the volume and bind mounts of the containers refs name
// ("container:NAME[:ro|rw]"), as Docker's --volumes-from does: at the same targets, read-only
// with :ro, writable with :rw, else as the source has them. A target already in covered (the
// container's own mounts win, as on Docker) is skipped; the rest are added to covered.
func (s *Supervisor) volumesFrom(refs []string, covered map[string]bool) ([]runtime.Mount, error) {
	var mounts []runtime.Mount
	for _, ref := range refs {
		name, mode, _ := strings.Cut(strings.TrimPrefix(ref, "container:"), ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("volumes_from %s: the mode must be ro or rw, not %q", ref, mode))
		}
		src, err := s.layout.Find(name)
		if err != nil {
			return nil, fmt.Errorf("volumes_from %s: %w", name, err)
		}
		for _, m := range src.Spec.Mounts {
			if (m.Type != runtime.MountVolume && m.Type != runtime.MountBind) || covered[m.Target] {
				continue
			}
			switch mode {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			}
			covered[m.Target] = true
			mounts = append(mounts, m)
		}
	}
	return mounts, nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start runs container id; starting a running container does nothing.
func (s *Supervisor) start(id string) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	s.cancelRestart(e)
	if e.c != nil {
		return nil
	}
	e.rec.StoppedByUser = false
	e.tracker = newTracker(e.rec)
	return s.run(e)
}

// run starts e's process and a watcher of its exit. The caller holds e.op.
func (s *Supervisor) run(e *entry) (retErr error) {
	rec := e.rec
	img, err := s.images.Get(rec.ImageID)
	if err != nil {
		return fmt.Errorf("start container %s: image %s: %w", rec.Name, rec.Spec.Image, err)
	}
	dir := s.layout.Container(rec.ID)
	rootfs, err := container.MountRootfs(rec.Layers, filepath.Join(dir, "fs"))
	if err != nil {
		return fmt.Errorf("start container %s: %w", rec.Name, err)
	}
	defer func() {
		if retErr != nil {
			container.UnmountRootfs(filepath.Join(dir, "fs"))
		}
	}()
	var net *netsetup
	nameserver := ""
	if bridged(rec.Spec) {
		if net, nameserver, err = s.connect(rec); err != nil {
			return fmt.Errorf("start container %s: %w", rec.Name, err)
		}
		defer func() {
			if retErr != nil {
				s.disconnect(rec, net)
			}
		}()
	}
	cfg, err := s.config(rec, rootfs, net, nameserver)
	if err != nil {
		return fmt.Errorf("start container %s: %w", rec.Name, err)
	}
	cfg.Process, err = container.ResolveProcess(rec.Spec, img.Config)
	if err != nil {
		return fmt.Errorf("start container %s: %w", rec.Name, err)
	}
	out, err := s.openLog(rec)
	if err != nil {
		return err
	}
	// The container writes to FIFOs it also holds open for reading, so it never dies of
	// SIGPIPE when the supervisor does: its output waits in the pipe for the next supervisor.
	stdout, err := os.OpenFile(filepath.Join(dir, "stdout"), os.O_RDWR, 0)
	if err != nil {
		out.Close()
		return err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(dir, "stderr"), os.O_RDWR, 0)
	if err != nil {
		out.Close()
		return err
	}
	defer stderr.Close()
	copied := s.copyOutput(rec, out)
	cfg.Process.Stdout, cfg.Process.Stderr = stdout, stderr
	var afterWait func()
	if rec.Spec.Tty {
		// The terminal's output comes from its master side, which the container package
		// copies here: into a pipe whose reader feeds the log, closed once the container
		// (and that copy) ended.
		r, w, err := os.Pipe()
		if err != nil {
			out.Close()
			return err
		}
		ttyDone := make(chan struct{})
		// An attached client (Runtime.Attach) reads the terminal's bytes as they come, from
		// the ttyout FIFO it opened before this start; the log gets them too.
		var tty io.Reader = r
		client := openTTYClient(dir)
		if client != nil {
			tty = io.TeeReader(r, client)
		}
		go func() {
			defer close(ttyDone)
			defer r.Close()
			defer client.Close()
			out.Copy(runtime.Stdout, tty)
		}()
		fifos := copied
		both := make(chan struct{})
		go func() {
			<-fifos
			<-ttyDone
			close(both)
		}()
		copied = both
		cfg.Process.Stdout, cfg.Process.Stderr = w, nil
		afterWait = func() { w.Close() }
		defer func() {
			if retErr != nil {
				w.Close()
			}
		}()
	}
	if rec.Spec.StdinOpen {
		// stdin_open: an input that stays open and empty, as Docker's unattached stdin; with
		// stdin_once (an attached run), one that ends when the attached client's input does.
		open := openStdin
		if rec.Spec.StdinOnce {
			open = openStdinOnce
		}
		in, err := open(dir)
		if err != nil {
			out.Close()
			return err
		}
		if rec.Spec.Tty {
			// Read by the copy into the terminal's master, in this process, while it runs.
			prev := afterWait
			afterWait = func() {
				in.Close()
				if prev != nil {
					prev()
				}
			}
			defer func() {
				if retErr != nil {
					in.Close()
				}
			}()
		} else {
			defer in.Close() // the container has its own descriptor
		}
		cfg.Process.Stdin = in
	}

	c, err := s.mgr.Start(cfg)
	if err != nil {
		stdout.Close()
		stderr.Close()
		if afterWait != nil {
			afterWait()
		}
		s.drain(rec, copied, out)
		if code, ok := container.ExitCode(err); ok {
			rec.State, rec.ExitCode, rec.Error, rec.FinishedAt = state.Exited, code, err.Error(), time.Now().UTC()
			s.save(e)
		}
		return err
	}
	now := time.Now().UTC()
	rec.State, rec.Pid, rec.StartedAt, rec.ExitCode, rec.Error = state.Running, c.Pid(), now, 0, ""
	rec.Health = ""
	hc := healthcheck(rec.Spec, img.Config)
	if hc != nil {
		rec.Health = runtime.HealthStarting
	}
	s.save(e)
	exited := make(chan struct{})
	s.startProbe(e, hc, exited, now)
	s.mu.Lock()
	e.c, e.exited, e.net = c, exited, net
	s.mu.Unlock()
	s.emit(rec, "start", 0)
	go s.watch(e, c, exited, copied, out, afterWait)
	return nil
}

// openStdin opens (making it first) the container's stdin FIFO for reading and writing: the
// container reads from it, and it never sees end of file.
func openStdin(dir string) (*os.File, error) {
	return fsutil.OpenFIFO(filepath.Join(dir, "stdin"))
}

// openStdinOnce opens (making it first) the container's stdin FIFO for reading only, so that
// the container reads end of file once every writer is gone: the attached client opened its
// end before the start (Runtime.Attach) and closes it at the end of its input. With no client,
// the container reads end of file at once, as Docker's closed stdin.
func openStdinOnce(dir string) (*os.File, error) {
	path := filepath.Join(dir, "stdin")
	if err := fsutil.MakeFIFO(path); err != nil {
		return nil, err
	}
	// Non-blocking, or open would wait for a writer; the container then reads blocking.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openTTYClient opens the write end of the container's ttyout FIFO when an attached client
// holds it open for reading, else returns nil. Its writes wait for the client at most
// ttyClientTimeout, then fail, and the tee stops: a client that stopped reading must not stop
// the container's output.
func openTTYClient(dir string) *ttyClient {
	fd, err := unix.Open(filepath.Join(dir, "ttyout"), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // ENOENT or ENXIO: nobody attached
	}
	// A non-blocking descriptor makes a File whose writes wait in the runtime's poller, where
	// a deadline applies.
	return &ttyClient{f: os.NewFile(uintptr(fd), "ttyout")}
}

// ttyClientTimeout is how long a write to an attached client may wait for it to read.
const ttyClientTimeout = 10 * time.Second

// ttyClient is the write end of an attached client's FIFO. Once a write fails it closes and
// swallows the rest, so the tee into the log goes on.
type ttyClient struct {
	f *os.File
}

// Close closes the FIFO; a nil client has nothing to close.
func (c *ttyClient) Close() {
	if c != nil && c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

func (c *ttyClient) Write(p []byte) (int, error) {
	if c.f == nil {
		return len(p), nil
	}
	_ = c.f.SetWriteDeadline(time.Now().Add(ttyClientTimeout))
	if _, err := c.f.Write(p); err != nil {
		c.f.Close()
		c.f = nil
	}
	return len(p), nil
}

// copyOutput opens the read ends of the container's FIFOs and copies them into its log; the
// returned channel closes when both reach end of file (every writer gone).
func (s *Supervisor) copyOutput(rec *state.Record, out *logfile.Writer) <-chan struct{} {
	dir := s.layout.Container(rec.ID)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, stream := range []string{runtime.Stdout, runtime.Stderr} {
		// O_RDWR while opening keeps open() from blocking without a writer; the read-only
		// descriptor then sees end of file once the container's descriptors are closed.
		f, err := os.OpenFile(filepath.Join(dir, stream), os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			s.logger.Printf("open %s of %s: %v", stream, rec.Name, err)
			continue
		}
		// Blocking reads from here on: the Go runtime poller handles the FIFO.
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			if err := out.Copy(stream, f); err != nil {
				s.logger.Printf("copy %s of %s: %v", stream, rec.Name, err)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (s *Supervisor) openLog(rec *state.Record) (*logfile.Writer, error) {
	maxSize, maxFiles, err := logfile.ParseOptions(rec.Spec.Log.Options)
	if err != nil {
		return nil, fmt.Errorf("container %s: logging options: %w", rec.Name, err)
	}
	return logfile.Open(s.layout.LogPath(rec.ID), maxSize, maxFiles)
}

// drain waits (briefly) for the output copies to end and closes the log.
func (s *Supervisor) drain(rec *state.Record, copied <-chan struct{}, out *logfile.Writer) {
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		s.logger.Printf("output of %s did not end", rec.Name)
	}
	out.Close()
}

// watch waits for the container's exit, cleans up after it, records it, and restarts it when
// its policy says so.
func (s *Supervisor) watch(e *entry, c *container.Container, exited chan struct{}, copied <-chan struct{}, out *logfile.Writer, afterWait func()) {
	code, err := c.Wait()
	if err != nil {
		s.logger.Printf("wait %s: %v", e.rec.Name, err)
	}
	if afterWait != nil {
		afterWait()
	}
	if derr := c.Destroy(); derr != nil {
		s.logger.Printf("destroy %s: %v", e.rec.Name, derr)
	}
	s.drain(e.rec, copied, out)
	if uerr := container.UnmountRootfs(filepath.Join(s.layout.Container(e.rec.ID), "fs")); uerr != nil {
		s.logger.Printf("unmount %s: %v", e.rec.Name, uerr)
	}
	s.mu.Lock()
	net := e.net
	e.net = nil
	s.mu.Unlock()
	if net != nil {
		s.disconnect(e.rec, net)
	}
	now := time.Now().UTC()
	s.mu.Lock()
	rec := e.rec
	rec.State, rec.Pid, rec.ExitCode, rec.FinishedAt = state.Exited, 0, code, now
	e.c, e.exited = nil, nil
	again, delay := e.tracker.Exited(code, rec.StartedAt, now, rec.StoppedByUser)
	var cancel chan struct{}
	if again {
		rec.State = state.Restarting
		rec.RestartCount = e.tracker.RestartCount()
		cancel = make(chan struct{})
		e.cancelRestart = cancel
	}
	s.mu.Unlock()
	s.save(e)
	close(exited)
	s.emit(rec, "die", code)
	if again {
		go s.restartAfter(e, delay, cancel)
	}
}

func (s *Supervisor) restartAfter(e *entry, delay time.Duration, cancel chan struct{}) {
	select {
	case <-time.After(delay):
	case <-cancel:
		return
	}
	e.op.Lock()
	defer e.op.Unlock()
	s.mu.Lock()
	if e.cancelRestart != cancel {
		s.mu.Unlock()
		return // called off meanwhile
	}
	e.cancelRestart = nil
	s.mu.Unlock()
	if err := s.run(e); err != nil {
		s.logger.Printf("restart %s: %v", e.rec.Name, err)
		e.rec.State = state.Exited
		s.save(e)
	}
}

// cancelRestart calls off a scheduled restart. The caller holds e.op.
func (s *Supervisor) cancelRestart(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.cancelRestart != nil {
		close(e.cancelRestart)
		e.cancelRestart = nil
		if e.rec.State == state.Restarting {
			e.rec.State = state.Exited
		}
	}
}

// stop stops container id: its stop signal, the grace period, then SIGKILL. A stopped
// container is never brought back by its restart policy.
func (s *Supervisor) stop(id string, timeout *time.Duration, signal string) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	s.cancelRestart(e)
	s.mu.Lock()
	c, exited := e.c, e.exited
	e.rec.StoppedByUser = true
	s.mu.Unlock()
	if c == nil {
		s.save(e)
		return nil
	}
	sigName := signal
	if sigName == "" {
		sigName = e.rec.Spec.StopSignal
	}
	if sigName == "" {
		// The image's STOPSIGNAL applies when the service sets none.
		if img, err := s.images.Get(e.rec.ImageID); err == nil {
			sigName = img.Config.StopSignal
		}
	}
	sig, err := ParseSignal(sigName, syscall.SIGTERM)
	if err != nil {
		return err
	}
	grace := defaultStopTimeout
	if e.rec.Spec.StopTimeout != nil {
		grace = *e.rec.Spec.StopTimeout
	}
	if timeout != nil {
		grace = *timeout
	}
	s.emit(e.rec, "kill", 0)
	if err := c.Stop(sig, grace); err != nil {
		return fmt.Errorf("stop container %s: %w", e.rec.Name, err)
	}
	<-exited
	s.emit(e.rec, "stop", 0)
	return nil
}

// kill sends a signal (default SIGKILL) to the container's PID 1.
func (s *Supervisor) kill(id, signal string) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal, syscall.SIGKILL)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c := e.c
	if c != nil && (sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT) {
		e.rec.StoppedByUser = true
	}
	s.mu.Unlock()
	if c == nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("kill container %s: it is not running", e.rec.Name))
	}
	s.emit(e.rec, "kill", 0)
	return c.Signal(sig)
}

// remove deletes container id with its folder; a running one only with force.
func (s *Supervisor) remove(id string, force, volumes bool) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	s.cancelRestart(e)
	s.mu.Lock()
	c, exited := e.c, e.exited
	s.mu.Unlock()
	if c != nil {
		if !force {
			return runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("remove container %s: it is running: stop it first or force the removal", e.rec.Name))
		}
		e.rec.StoppedByUser = true
		if err := c.Stop(syscall.SIGKILL, 0); err != nil {
			return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
		}
		<-exited
	}
	dir := s.layout.Container(e.rec.ID)
	container.UnmountRootfs(filepath.Join(dir, "fs"))
	// Rename first: a crash half-way leaves a folder no command mistakes for a container.
	trash := filepath.Join(s.layout.Containers(), ".trash-"+e.rec.ID)
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove container %s: %w", e.rec.Name, err)
	}
	if volumes {
		for _, v := range e.rec.Anonymous {
			if err := s.volumes().Remove(v, true, nil); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				s.logger.Printf("remove volume %s of %s: %v", v, e.rec.Name, err)
			}
		}
	}
	s.mu.Lock()
	delete(s.entries, e.rec.ID)
	s.mu.Unlock()
	s.emit(e.rec, "destroy", 0)
	return nil
}

// rename gives container id a new, unused name.
func (s *Supervisor) rename(id, name string) error {
	if err := state.CheckName("container", name); err != nil {
		return err
	}
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	release, err := state.Lock(filepath.Join(s.layout.Run, "names.lock"), true)
	if err != nil {
		return err
	}
	defer release()
	if other, taken, err := s.names.Owner(name); err != nil {
		return fmt.Errorf("rename %s to %s: %w", e.rec.Name, name, err)
	} else if taken && other != e.rec.ID {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("rename %s to %s: the name is already in use", e.rec.Name, name))
	}
	s.mu.Lock()
	e.rec.Name = name
	s.mu.Unlock()
	s.save(e)
	s.emit(e.rec, "rename", 0)
	return nil
}

// resize sets the size of the terminal of running container id.
func (s *Supervisor) resize(id string, width, height uint16) error {
	e, err := s.entry(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c := e.c
	s.mu.Unlock()
	if c == nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("resize %s: the container is not running", e.rec.Name))
	}
	return c.ResizeTTY(width, height)
}

// ParseSignal reads "SIGTERM", "TERM" or "15"; "" is def.
func ParseSignal(name string, def syscall.Signal) (syscall.Signal, error) {
	if name == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(name, "%d", &n); err == nil && fmt.Sprint(n) == name {
		return syscall.Signal(n), nil
	}
	up := strings.ToUpper(name)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	return 0, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid signal %q", name))
}
