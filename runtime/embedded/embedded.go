// Package embedded is comp's daemonless runtime: containers run through runc's libcontainer
// from images in comp's own store, owned by one detached supervisor process per project.
// Commands read the on-disk records directly (so `ps` and `logs` need no supervisor) and ask the
// supervisor for everything that changes a container.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/build"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/core"
	"github.com/comp-dev/comp/runtime/embedded/fifo"
	"github.com/comp-dev/comp/runtime/embedded/image"
	"github.com/comp-dev/comp/runtime/embedded/logfile"
	"github.com/comp-dev/comp/runtime/embedded/network"
	"github.com/comp-dev/comp/runtime/embedded/state"
	"github.com/comp-dev/comp/runtime/embedded/supervisor"
	"github.com/comp-dev/comp/runtime/embedded/volume"
)

// Version is the embedded runtime's version, shown by `comp version`.
const Version = "0.1.0-dev"

// Runtime is the embedded runtime.
type Runtime struct {
	layout  state.Layout
	images  *image.Store
	volumes volume.Store
	mgr     *container.Manager
}

var _ runtime.Runtime = (*Runtime)(nil)

// ErrNotRoot is returned by New when comp does not run as root.
var ErrNotRoot = errors.New("the embedded runtime needs root: rootless containers are not supported yet; run comp as root, or use --runtime docker")

// New opens the embedded runtime's state (COMP_ROOT, else /var/lib/comp and /run/comp).
func New(ctx context.Context) (*Runtime, error) {
	if os.Geteuid() != 0 {
		return nil, runtime.Classify(runtime.ErrUnavailable, ErrNotRoot)
	}
	layout := state.DefaultLayout()
	for _, dir := range []string{layout.Root, layout.Run, layout.Containers(), layout.Volumes(), layout.Projects()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("embedded runtime state %s: %w", dir, err))
		}
	}
	images, err := image.Open(layout.Images())
	if err != nil {
		return nil, runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("open image store: %w", err))
	}
	mgr, err := container.NewManager(layout.Libcontainer())
	if err != nil {
		return nil, runtime.Classify(runtime.ErrUnavailable, err)
	}
	return &Runtime{layout: layout, images: images, volumes: volume.Store{Dir: layout.Volumes()}, mgr: mgr}, nil
}

// Name is "embedded".
func (r *Runtime) Name() string { return "embedded" }

// Close releases nothing: the runtime holds no connection.
func (r *Runtime) Close() error { return nil }

// Info describes the embedded runtime and what this binary supports.
func (r *Runtime) Info(ctx context.Context) (runtime.Info, error) {
	info := runtime.Info{Runtime: "embedded", ServerVersion: Version, OS: goruntime.GOOS, Arch: goruntime.GOARCH}
	if container.SeccompSupported() {
		info.Features = append(info.Features, "seccomp")
	} else {
		info.Features = append(info.Features, "no seccomp (built without -tags seccomp)")
	}
	if core.Embedded() {
		info.Features = append(info.Features, "lean core")
	} else {
		info.Features = append(info.Features, "no lean core (built without go run ./internal/buildcomp)")
	}
	// The builder's Dockerfile features beyond the classic builder's.
	info.Features = append(info.Features, build.Features)

	return info, nil
}

// Capabilities: the embedded runtime locks projects; its logs are the live output stream.
func (r *Runtime) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{ProjectLock: true}
}

// AttachOutput is not needed on the embedded runtime, whose log files are its live stream
// (Capabilities.AttachOutput is false).
func (r *Runtime) AttachOutput(ctx context.Context, id string) (func(sink func(runtime.LogLine)) error, error) {
	return nil, runtime.Classify(runtime.ErrNotImplemented, errors.New("attach to the output of a container: the embedded runtime streams it from its log"))
}

// LockProject serialises the comp commands that change project: two `up`s never race.
func (r *Runtime) LockProject(ctx context.Context, project string) (func(), error) {
	if err := state.CheckName("project", project); err != nil {
		return nil, err
	}
	return state.Lock(r.layout.ProjectLock(project), true)
}

func (r *Runtime) client(project string) (*supervisor.Client, error) {
	if err := state.CheckName("project", project); err != nil {
		return nil, err
	}
	return supervisor.NewClient(r.layout, project), nil
}

// call sends an operation on container idOrName to its project's supervisor.
func (r *Runtime) call(ctx context.Context, idOrName string, req supervisor.Request) error {
	rec, err := r.layout.Find(idOrName)
	if err != nil {
		return err
	}
	c, err := r.client(rec.Project())
	if err != nil {
		return err
	}
	req.ID = rec.ID
	_, err = c.Call(ctx, req)
	return err
}

// ListContainers reads the records of the containers matching opts. It starts nothing: a
// record says what its supervisor last wrote (see Recover).
func (r *Runtime) ListContainers(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	records, err := r.layout.Records()
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []runtime.Container
	for _, rec := range records {
		if !opts.Match(rec.Spec.Labels) {
			continue
		}
		c := toContainer(rec)
		// As Docker's list: without All, containers about to be restarted count as running.
		if !opts.All && c.State != runtime.StateRunning && c.State != runtime.StateRestarting {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// InspectContainer reads one container's record. It starts nothing (see Recover).
func (r *Runtime) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	rec, err := r.layout.Find(idOrName)
	if err != nil {
		return runtime.Container{}, err
	}
	return toContainer(rec), nil
}

// Recover makes sure a supervisor runs for project (every project when "") while any of its
// containers is recorded running: one that died is replaced, and the new one re-adopts the
// containers, reads their pending output and brings the records up to date.
func (r *Runtime) Recover(ctx context.Context, project string) error {
	records, err := r.layout.Records()
	if err != nil {
		return fmt.Errorf("recover project %s: %w", project, err)
	}
	recovered := map[string]bool{}
	for _, rec := range records {
		p := rec.Project()
		if project != "" && p != project || recovered[p] || !recordRunning(rec) {
			continue
		}
		recovered[p] = true
		if err := r.ensureSupervisor(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// ensureSupervisor starts project's supervisor when none answers.
func (r *Runtime) ensureSupervisor(ctx context.Context, project string) error {
	c, err := r.client(project)
	if err != nil {
		return err
	}
	return c.Ensure(ctx)
}

// recordRunning tells a record whose truth depends on a living supervisor.
func recordRunning(rec *state.Record) bool {
	return rec.State == state.Running || rec.State == state.Restarting
}

// watch reads container id for a command that waits on it (WaitContainer, a followed log, an
// attached stream): unlike InspectContainer, it makes sure a supervisor keeps the record true
// while the container runs, so that a wait outlives a supervisor that died meanwhile.
func (r *Runtime) watch(ctx context.Context, id string) (runtime.Container, error) {
	rec, err := r.layout.Find(id)
	if err != nil {
		return runtime.Container{}, err
	}
	if recordRunning(rec) {
		if err := r.ensureSupervisor(ctx, rec.Project()); err != nil {
			return runtime.Container{}, err
		}
	}
	return toContainer(rec), nil
}

// toContainer reports a record as the runtime interface shows containers. A record says what
// its supervisor last wrote: one that died is replaced (and fixes the records) by the next
// command that recovers the project.
func toContainer(rec *state.Record) runtime.Container {
	st := rec.State
	c := runtime.Container{
		ID: rec.ID, Name: rec.Name, Image: rec.Spec.Image, ImageID: rec.ImageID,
		Command: rec.Command,
		Labels:  rec.Spec.Labels, State: st, ExitCode: rec.ExitCode, Health: rec.Health,
		RestartCount: rec.RestartCount, Created: rec.Created, StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt,
		Mounts: rec.Spec.Mounts, Restart: rec.Spec.Restart,
	}
	if c.Restart.Name == "" {
		c.Restart.Name = "no"
	}
	c.Ports = rec.Ports
	if len(rec.Endpoints) > 0 {
		c.Networks = map[string]runtime.ContainerNetwork{}
		for _, ep := range rec.Endpoints {
			c.Networks[ep.Network] = runtime.ContainerNetwork{NetworkID: ep.Network, IPAddress: ep.IP, Aliases: ep.Aliases}
		}
	}
	return c
}

// CreateContainer asks the project's supervisor to create the container.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	c, err := r.client(spec.Labels[runtime.LabelProject])
	if err != nil {
		return "", err
	}
	return c.Call(ctx, supervisor.Request{Op: supervisor.OpCreate, Spec: &spec})
}

// StartContainer starts a container through its supervisor.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpStart})
}

// StopContainer stops a container through its supervisor.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpStop, Timeout: timeout})
}

// KillContainer signals a container's PID 1 through its supervisor.
func (r *Runtime) KillContainer(ctx context.Context, id string, signal string) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpKill, Signal: signal})
}

// RestartContainer stops and starts a container.
func (r *Runtime) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpRestart, Timeout: timeout})
}

// RemoveContainer removes a container and, with opts.Volumes, its anonymous volumes.
func (r *Runtime) RemoveContainer(ctx context.Context, id string, opts runtime.RemoveOptions) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpRemove, Force: opts.Force, Volumes: opts.Volumes})
}

// RenameContainer renames a container.
func (r *Runtime) RenameContainer(ctx context.Context, id, newName string) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpRename, Name: newName})
}

// WaitContainer waits until the container is not running and returns its exit code.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		c, err := r.watch(ctx, id)
		if err != nil {
			return -1, err
		}
		if c.State != runtime.StateRunning && c.State != runtime.StateRestarting {
			return c.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Logs reads the container's log file; with Follow it reads on until the container stops.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, sink func(runtime.LogLine)) error {
	rec, err := r.layout.Find(id)
	if err != nil {
		return err
	}
	done := func() bool {
		c, err := r.watch(ctx, rec.ID)
		return err != nil || c.State != runtime.StateRunning && c.State != runtime.StateRestarting
	}
	return logfile.Read(ctx, r.layout.LogPath(rec.ID), opts, done, sink)
}

// Attach streams the output of a container that is about to start (or runs) from its log,
// until it exits. streams.Stdin goes to the container's input when it was created with
// stdin_open; with stdin_once (an attached run), the end of streams.Stdin ends that input.
func (r *Runtime) Attach(ctx context.Context, id string, streams runtime.AttachStreams) (func() error, error) {
	rec, err := r.layout.Find(id)
	if err != nil {
		return nil, err
	}
	if streams.Tty && !rec.Spec.Tty {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("attach a terminal to %s: the container was created without one", rec.Name))
	}
	var ttyOut *os.File
	if streams.Tty {
		// Opened before the start, which looks for a reader to tee the terminal's bytes to.
		if ttyOut, err = fifo.Open(filepath.Join(r.layout.Container(rec.ID), "ttyout")); err != nil {
			return nil, fmt.Errorf("attach to %s: %w", rec.Name, err)
		}
	}
	if streams.Stdin != nil && rec.Spec.StdinOpen {
		if err := r.forwardStdin(ctx, rec.ID, streams.Stdin); err != nil {
			if ttyOut != nil {
				ttyOut.Close()
			}
			return nil, err
		}
	}
	if streams.Tty {
		return r.copyTerminal(ctx, rec, ttyOut, streams), nil
	}
	since := time.Now()
	done := func() bool {
		st := r.runState(ctx, rec.ID, since)
		return st == runtime.StateExited || st == runtime.StateDead
	}
	finished := make(chan error, 1)
	go func() {
		finished <- logfile.Read(ctx, r.layout.LogPath(rec.ID), runtime.LogOptions{Follow: true, Tail: -1, Since: since},
			done, func(l runtime.LogLine) {
				w := streams.Stdout
				if l.Stream == runtime.Stderr && streams.Stderr != nil {
					w = streams.Stderr
				}
				if w != nil {
					fmt.Fprintln(w, l.Text)
				}
			})
	}()
	return func() error { return <-finished }, nil
}

// forwardStdin copies in to container id's stdin FIFO until in ends (then closes its end, so
// that a stdin_once container reads end of file) or ctx does. The FIFO is opened for reading
// and writing, which does not wait for the container: it opens its end when it starts. A FIFO
// keeps no data once nobody has it open, so input that ends before the start is held until the
// container has started.
func (r *Runtime) forwardStdin(ctx context.Context, id string, in io.Reader) error {
	stdin, err := fifo.Open(filepath.Join(r.layout.Container(id), "stdin"))
	if err != nil {
		return fmt.Errorf("attach stdin: %w", err)
	}
	since := time.Now()
	stop := context.AfterFunc(ctx, func() { stdin.Close() })
	go func() {
		defer stop()
		_, _ = io.Copy(stdin, in)
		waitStarted(ctx, func() string { return r.runState(ctx, id, since) })
		stdin.Close()
	}()
	return nil
}

// runState is container id's state for a client that attached at since: the exit of an
// earlier run counts as not started yet.
func (r *Runtime) runState(ctx context.Context, id string, since time.Time) string {
	c, err := r.watch(ctx, id)
	if err != nil {
		return runtime.StateDead
	}
	if (c.State == runtime.StateExited || c.State == runtime.StateDead) && c.FinishedAt.Before(since) {
		return runtime.StateCreated
	}
	return c.State
}

// waitStarted returns once state says the container has started (or ended), or ctx ends. It
// polls: attaching is rare, and the start follows it within milliseconds.
func waitStarted(ctx context.Context, state func() string) {
	for wait := time.Millisecond; state() == runtime.StateCreated; wait = min(2*wait, 50*time.Millisecond) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// copyTerminal copies the terminal's bytes that the supervisor tees into ttyOut to
// streams.Stdout until the container has exited and they are drained. The returned function
// waits for the end.
func (r *Runtime) copyTerminal(ctx context.Context, rec *state.Record, ttyOut *os.File, streams runtime.AttachStreams) func() error {
	since := time.Now()
	phase := func() string { return r.runState(ctx, rec.ID, since) }
	finished := make(chan error, 1)
	go func() {
		defer ttyOut.Close()
		buf := make([]byte, 32<<10)
		ended := false
		for {
			// The FIFO never ends (this end also writes): look at the container between reads.
			_ = ttyOut.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := ttyOut.Read(buf)
			if n > 0 && streams.Stdout != nil {
				if _, werr := streams.Stdout.Write(buf[:n]); werr != nil {
					finished <- werr
					return
				}
			}
			switch {
			case err == nil:
			case !errors.Is(err, os.ErrDeadlineExceeded):
				finished <- err
				return
			case ended || ctx.Err() != nil:
				// Drained: the supervisor writes everything before it records the exit.
				finished <- ctx.Err()
				return
			default:
				st := phase()
				ended = st == runtime.StateExited || st == runtime.StateDead
			}
		}
	}()
	return func() error { return <-finished }
}

// CheckContainerSpec refuses what the embedded runtime cannot do with spec (see
// supervisor.CheckSupported), before comp creates anything.
func (r *Runtime) CheckContainerSpec(spec runtime.ContainerSpec) error {
	if err := supervisor.CheckSupported(spec); err != nil {
		return fmt.Errorf("container %s: %w", spec.Name, err)
	}
	if err := container.CheckSecurityOpt(spec.SecurityOpt); err != nil {
		return fmt.Errorf("container %s: %w", spec.Name, err)
	}
	return nil
}

// CheckNetworkSpec refuses a network the embedded runtime cannot make (see
// network.CheckSpec), before comp creates anything.
func (r *Runtime) CheckNetworkSpec(spec runtime.NetworkSpec) error {
	return network.CheckSpec(spec)
}

// ResizeTerminal sets the size of a running container's terminal, through its supervisor
// (which holds the terminal's master side).
func (r *Runtime) ResizeTerminal(ctx context.Context, id string, width, height uint16) error {
	return r.call(ctx, id, supervisor.Request{Op: supervisor.OpResize, Width: width, Height: height})
}

// Exec runs a command in a running container, from this process.
func (r *Runtime) Exec(ctx context.Context, id string, spec runtime.ExecSpec) (int, error) {
	rec, err := r.layout.Find(id)
	if err != nil {
		return -1, err
	}
	c := toContainer(rec)
	if c.State != runtime.StateRunning {
		return -1, runtime.Classify(runtime.ErrConflict, fmt.Errorf("container %s is not running", rec.Name))
	}
	img, err := r.images.Get(rec.ImageID)
	if err != nil {
		return -1, err
	}
	p, err := container.ExecProcess(rec.Spec, img.Config, spec)
	if err != nil {
		return -1, err
	}
	return r.mgr.Exec(ctx, rec.ID, p)
}

// Top lists the container's processes.
func (r *Runtime) Top(ctx context.Context, id string) (runtime.Top, error) {
	rec, err := r.layout.Find(id)
	if err != nil {
		return runtime.Top{}, err
	}
	c, err := r.mgr.Load(rec.ID)
	if err != nil {
		return runtime.Top{}, runtime.Classify(runtime.ErrConflict, fmt.Errorf("container %s is not running", rec.Name))
	}
	pids, err := c.Processes()
	if err != nil {
		return runtime.Top{}, err
	}
	top := runtime.Top{Titles: []string{"PID", "PPID", "CMD"}}
	for _, pid := range pids {
		top.Processes = append(top.Processes, processRow(pid))
	}
	return top, nil
}

func processRow(pid int) []string {
	ppid := "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command (in parentheses): state, ppid, …
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 {
				ppid = f[1]
			}
		}
	}
	cmd := ""
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		cmd = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	return []string{fmt.Sprint(pid), ppid, cmd}
}

// Events streams the project's container events from its supervisor.
func (r *Runtime) Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error) {
	c, err := r.client(project)
	if err != nil {
		events, errs := make(chan runtime.Event), make(chan error, 1)
		errs <- err
		close(events)
		close(errs)
		return events, errs
	}
	return c.Events(ctx)
}
