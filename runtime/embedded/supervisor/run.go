package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// start runs container id, then its post_start hooks; starting a running container does
// nothing.
func (s *Supervisor) start(ctx context.Context, id string) error {
	e, err := s.lockEntry(id)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	s.mu.Lock()
	running := e.c != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	s.update(e, func(r *state.Record) {
		r.StoppedByUser = false
		e.tracker = newTracker(r)
	})
	if err := s.run(e); err != nil {
		return err
	}
	return s.postStart(ctx, e)
}

// run starts e's process and a watcher of its exit. The caller holds e.op.
func (s *Supervisor) run(e *entry) (retErr error) {
	// A copy of its own, which connect fills in with the endpoints: they are stored in e's
	// record once the container runs. It does not change after copyOutput, whose goroutines
	// read it.
	own := *s.record(e)
	rec := &own
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
			s.update(e, func(r *state.Record) {
				r.State, r.ExitCode, r.Error, r.FinishedAt = state.Exited, code, err.Error(), time.Now().UTC()
			})
			s.save(e)
		}
		return err
	}
	now := time.Now().UTC()
	hc := healthcheck(rec.Spec, img.Config)
	exited := make(chan struct{})
	started := s.update(e, func(r *state.Record) {
		r.State, r.Pid, r.StartedAt, r.ExitCode, r.Error = state.Running, c.Pid(), now, 0, ""
		r.Endpoints, r.Ports = rec.Endpoints, rec.Ports
		r.Health = ""
		if hc != nil {
			r.Health = runtime.HealthStarting
		}
		e.c, e.exited, e.net = c, exited, net
	})
	s.save(e)
	s.startProbe(e, hc, exited, now)
	s.emit(started, "start", 0)
	go s.watch(e, c, exited, copied, out, afterWait)
	return nil
}
