package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/dns"
	"github.com/comp-dev/comp/runtime/embedded/image"
	"github.com/comp-dev/comp/runtime/embedded/network"
	"github.com/comp-dev/comp/runtime/embedded/restart"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// idleExit is how long a supervisor with nothing to supervise and no client waits before it
// exits; the next comp command that needs one starts it again.
const idleExit = 3 * time.Second

// Supervisor owns the containers of one project.
type Supervisor struct {
	layout  state.Layout
	names   *state.Names // who owns which container name, machine-wide
	project string
	images  *image.Store
	mgr     *container.Manager
	logger  *log.Logger

	nets *network.Manager

	mu      sync.Mutex
	dns     map[string]*dns.Server
	entries map[string]*entry
	subs    map[chan runtime.Event]struct{}
	clients int
	idle    time.Time
}

// entry is one container and what the supervisor knows of its current run.
//
// Locking: s.mu guards every field of an entry but op and saving; hold it to read or write
// them. The record rec points to is never changed once an entry holds it: take the pointer
// with record and read that record freely; change it with update, which replaces it, under
// s.mu, by a changed copy. So no change is lost and nobody sees one half made. Work that
// takes long (a start's network, a stop's grace period) runs without s.mu, on a snapshot or
// a copy of its own, and stores its outcome with update.
type entry struct {
	rec     *state.Record
	c       *container.Container
	tracker *restart.Tracker
	// exited closes when the current run's exit has been handled (record written, cleanup
	// done); nil when the container does not run.
	exited chan struct{}
	// pending is set while a restart is scheduled; closing cancel calls it off.
	cancelRestart chan struct{}
	// net is the network the current run holds (bridged containers).
	net *netsetup
	// op serialises start, stop, restart and remove of this container; kill does not wait
	// for it (see kill).
	op sync.Mutex
	// saving orders save's writes of rec, so that the newest record is the one left on disk.
	saving sync.Mutex
}

// Run is `comp __supervise PROJECT`: it becomes project's supervisor unless one already runs,
// re-adopts the project's containers, and serves until it has been idle for idleExit.
func Run(ctx context.Context, layout state.Layout, project string) error {
	if err := state.CheckName("project", project); err != nil {
		return err
	}
	release, err := state.Lock(layout.SupervisorLock(project), false)
	if err != nil {
		return nil // another supervisor of this project runs: nothing to do
	}
	defer release()
	images, err := image.Open(layout.Images())
	if err != nil {
		return err
	}
	mgr, err := container.NewManager(layout.Libcontainer())
	if err != nil {
		return err
	}
	// The first containers to start would wait for this; it runs while their requests arrive.
	container.UseSeccompCache(filepath.Join(layout.Run, "seccomp"))
	go container.WarmSeccomp()
	nets, err := network.NewManager(layout.Networks())
	if err != nil {
		return err
	}
	s := newSupervisor(layout, project, images, mgr, nets, log.New(os.Stderr, "supervisor "+project+": ", log.LstdFlags|log.Lmicroseconds))
	sock := layout.Socket(project)
	_ = os.Remove(sock) // a stale socket of a dead supervisor; we hold the lock
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer os.Remove(sock)
	defer l.Close()
	s.adopt()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Whatever ends ctx (a signal, idleness) ends the accept loop; the containers run on.
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	go s.exitWhenIdle(ctx, cancel)
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.mu.Lock()
				for _, srv := range s.dns {
					srv.Close()
				}
				s.mu.Unlock()
				s.forgetIfEmpty()
				return nil
			}
			return err
		}
		go s.serve(ctx, conn)
	}
}

func newSupervisor(layout state.Layout, project string, images *image.Store, mgr *container.Manager, nets *network.Manager, logger *log.Logger) *Supervisor {
	return &Supervisor{layout: layout, names: state.NewNames(layout), project: project, images: images, mgr: mgr, nets: nets,
		logger: logger, dns: map[string]*dns.Server{}, entries: map[string]*entry{}, subs: map[chan runtime.Event]struct{}{},
		idle: time.Now()}
}

// forgetIfEmpty removes the supervisor's own files when its project has no container left,
// so that a project that is down leaves nothing in the state folders.
func (s *Supervisor) forgetIfEmpty() {
	records, err := s.layout.Records()
	if err != nil {
		return
	}
	for _, r := range records {
		if r.Project() == s.project {
			return
		}
	}
	os.Remove(s.layout.SupervisorLock(s.project) + ".log")
	os.Remove(s.layout.SupervisorLock(s.project))
}

// exitWhenIdle stops the supervisor once no container runs or waits to restart and no client
// is connected, for idleExit.
func (s *Supervisor) exitWhenIdle(ctx context.Context, cancel func()) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		busy := s.clients > 0
		for _, e := range s.entries {
			if e.exited != nil || e.cancelRestart != nil {
				busy = true
			}
		}
		if busy {
			s.idle = time.Now()
		}
		done := !busy && time.Since(s.idle) > idleExit
		s.mu.Unlock()
		if done {
			cancel()
			return
		}
	}
}

func (s *Supervisor) serve(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	s.mu.Lock()
	s.clients++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.clients--
		s.idle = time.Now()
		s.mu.Unlock()
	}()
	var req Request
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		return
	}
	enc := json.NewEncoder(conn)
	if req.Op == OpEvents {
		s.streamEvents(ctx, conn, enc)
		return
	}
	id, err := s.handle(ctx, req)
	resp := encodeError(err)
	resp.ID = id
	_ = enc.Encode(resp)
}

func (s *Supervisor) handle(ctx context.Context, req Request) (string, error) {
	switch req.Op {
	case OpPing:
		return "", nil
	case OpVersion:
		return ProtocolVersion, nil
	case OpCreate:
		if req.Spec == nil {
			return "", runtime.Classify(runtime.ErrInvalidArgument, errors.New("create: no spec"))
		}
		return s.create(*req.Spec)
	case OpStart:
		return req.ID, s.start(ctx, req.ID)
	case OpStop:
		return req.ID, s.stop(ctx, req.ID, req.Timeout, req.Signal)
	case OpKill:
		return req.ID, s.kill(req.ID, req.Signal)
	case OpRestart:
		if err := s.stop(ctx, req.ID, req.Timeout, ""); err != nil {
			return req.ID, err
		}
		return req.ID, s.start(ctx, req.ID)
	case OpRemove:
		return req.ID, s.remove(req.ID, req.Force, req.Volumes)
	case OpRename:
		return req.ID, s.rename(req.ID, req.Name)
	case OpResize:
		return req.ID, s.resize(req.ID, req.Width, req.Height)
	}
	return "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("unknown operation %q", req.Op))
}

func (s *Supervisor) streamEvents(ctx context.Context, conn net.Conn, enc *json.Encoder) {
	ch := make(chan runtime.Event, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	if err := enc.Encode(runtime.Event{Action: eventsSubscribed}); err != nil {
		return
	}
	// The client hangs up by closing: notice it even when no event comes.
	gone := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		conn.Read(buf)
		close(gone)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case ev := <-ch:
			if err := enc.Encode(ev); err != nil {
				return
			}
		}
	}
}

// emit sends an event about rec to every subscriber; a subscriber too slow to keep up loses
// events rather than stalling the supervisor.
func (s *Supervisor) emit(rec *state.Record, action string, exitCode int) {
	ev := runtime.Event{Time: time.Now(), Action: action, Container: rec.ID, Name: rec.Name,
		Labels: rec.Spec.Labels, ExitCode: exitCode, Health: rec.Health,
		Restarting: action == "die" && rec.State == state.Restarting}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// entry returns the entry of container id (or name) of this project, loading its record.
func (s *Supervisor) entry(id string) (*entry, error) {
	rec, err := s.layout.Find(id)
	if err != nil {
		return nil, err
	}
	if rec.Project() != s.project {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("container %s belongs to project %q, not %q", rec.Name, rec.Project(), s.project))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[rec.ID]
	if !ok {
		e = &entry{rec: rec, tracker: newTracker(rec)}
		s.entries[rec.ID] = e
	}
	return e, nil
}

// lockEntry begins start, stop and remove: it returns container id's entry with its op lock
// held (the caller unlocks it) and any pending restart called off. A container that a remove
// holding the lock deleted meanwhile is not found.
func (s *Supervisor) lockEntry(id string) (*entry, error) {
	e, err := s.entry(id)
	if err != nil {
		return nil, err
	}
	e.op.Lock()
	s.mu.Lock()
	removed := s.entries[e.rec.ID] != e
	s.mu.Unlock()
	if removed {
		e.op.Unlock()
		return nil, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such container: %s", id))
	}
	s.cancelRestart(e)
	return e, nil
}

// record returns e's record, which nobody changes (see entry).
func (s *Supervisor) record(e *entry) *state.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.rec
}

// update gives e a copy of its record changed by fn, and returns it. fn runs with s.mu held, so
// it may also read and set e's other fields, and must not block.
func (s *Supervisor) update(e *entry, fn func(r *state.Record)) *state.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := *e.rec
	fn(&r)
	e.rec = &r
	return e.rec
}

// save writes e's record; the supervisor is the only writer of its project's records.
func (s *Supervisor) save(e *entry) {
	e.saving.Lock()
	defer e.saving.Unlock()
	rec := s.record(e)
	if err := s.layout.WriteRecord(rec); err != nil {
		s.logger.Printf("save %s: %v", rec.Name, err)
	}
}
