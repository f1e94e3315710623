package logs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Source is the part of a runtime that Follow reads; runtime.Runtime satisfies it.
type Source interface {
	ListContainers(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error)
	InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error)
	Logs(ctx context.Context, id string, opts runtime.LogOptions, sink func(runtime.LogLine)) error
	Events(ctx context.Context, project string) (<-chan runtime.Event, <-chan error)
}

// Every runtime can be followed.
var _ Source = runtime.Runtime(nil)

// TailAll as FollowOptions.Tail prints each container's whole output, as `--tail all` does.
const TailAll = -1

// DefaultExitGrace is how long Follow with UntilAllExit waits, once every container has
// exited, for a late event (a restart, a die not yet reported) before it returns.
const DefaultExitGrace = 250 * time.Millisecond

// retryDelay spaces out re-reads of a running container whose log stream ended early, so a
// backend that cannot follow is polled rather than spun on.
const retryDelay = 200 * time.Millisecond

// FollowOptions selects the containers Follow prints and how.
type FollowOptions struct {
	// Project is the compose project whose containers are printed.
	Project string
	// Services restricts the output to these services; empty means all.
	Services []string
	// Follow keeps printing new output, of new and restarted containers too, until ctx ends.
	Follow bool
	// Tail is the number of last lines of each container's existing output to print; negative
	// (TailAll) means all of it and 0 none. Output that appears after Follow began is always
	// printed whole.
	Tail int
	// Since and Until, when set, bound the printed lines by time.
	Since, Until time.Time

	// UntilAllExit, with Follow, returns once every followed container has exited and none
	// restarted within ExitGrace: attached `up` ends this way. Containers that are created but
	// not started yet count as about to run.
	UntilAllExit bool
	// ExitGrace overrides DefaultExitGrace.
	ExitGrace time.Duration
	// EndAtLastExit, with UntilAllExit, skips the grace when every container's exit has been
	// reported and none has a restart policy that can bring it back. Attached `up` sets it:
	// nothing else restarts what it runs. `logs -f` does not: a `comp restart` elsewhere
	// starts a container again within the grace.
	EndAtLastExit bool
	// OnExit, with Follow, is called after the last line of a container that exited, with the
	// container as inspected then (State restarting or running: its restart policy brings it
	// back) and its exit code. Calls come one at a time. Printer.Exited fits here.
	OnExit func(c runtime.Container, exitCode int)
	// Attached, when set, hands over the output attached to a container before it started
	// (Attached.Take): Follow reads that instead of the container's logs for its current run.
	Attached func(id string) (func(ctx context.Context, sink func(runtime.LogLine)) error, bool)
	// ReportEarlierExits also passes to OnExit the containers that had exited before Follow
	// listed them, after their output: attached `up` starts following once its containers
	// exist, and a container quick to exit must still get its status line.
	ReportEarlierExits bool
	// OnError receives the failure of one container's stream as it happens, by display name,
	// one call at a time. When nil, those failures are joined into Follow's error instead.
	OnError func(name string, err error)
}

// Follow prints the logs of a project's containers (one-off `run` containers excepted) to p.
// Each container's lines stay in order; the output of different containers is interleaved as
// it comes. Without opts.Follow it prints what there is and returns. With it, it also follows
// containers started later (scale-up, recreate) and restarted ones, printing no line twice,
// until ctx ends (or, with UntilAllExit, until all have exited). One container's failure does
// not stop the others; such failures are returned joined, unless opts.OnError takes them. The
// end of ctx is not an error.
func Follow(ctx context.Context, src Source, opts FollowOptions, p *Printer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &follower{
		src:        src,
		opts:       opts,
		printer:    p,
		ctx:        ctx,
		cancel:     cancel,
		ended:      make(chan streamEnd),
		retry:      make(chan string),
		containers: map[string]*followed{},
	}
	if len(opts.Services) > 0 {
		f.services = map[string]bool{}
		for _, s := range opts.Services {
			f.services[s] = true
		}
	}
	if !opts.Follow {
		return f.printAll()
	}
	// Subscribe before listing: a container started between the two is then both listed and
	// announced, and the announcement is harmless, where the other order would miss it.
	events, eventErrs := src.Events(ctx, opts.Project)
	return f.follow(events, eventErrs)
}

// follower is the state of one Follow call. Its maps and followed records belong to the
// goroutine running follow; stream goroutines only print and report back on ended.
type follower struct {
	src      Source
	opts     FollowOptions
	printer  *Printer
	services map[string]bool // nil: all

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ended  chan streamEnd
	retry  chan string // container IDs whose stream to start again

	containers map[string]*followed // by ID

	errMu sync.Mutex
	errs  []error
}

// followed is one container being followed.
type followed struct {
	c    runtime.Container
	name string

	streaming bool
	// resume: a start was seen while streaming; stream again from pos once this stream ends.
	resume bool
	// exits are die events seen while streaming, reported once the stream has drained so the
	// status line comes after the container's last line.
	exits []int
	// exitStates are the states inspected when each queued exit was seen: a container whose
	// output stream spans its restarts (a log file) must still report "(restarting)".
	exitStates []string
	// alive: running or about to run, as far as events and inspection tell.
	alive bool
	// initial: listed when Follow began, so its first stream takes opts.Tail.
	initial bool
	// exitedEarlier: listed as exited with ReportEarlierExits, so its exit is reported
	// already; the die event of that same exit, if it comes after the listing, is not news.
	exitedEarlier bool
	// exitReported: its latest exit has gone to OnExit, as inspected then (t.c).
	exitReported bool
	// pos is just past the last printed line; floor is the earliest time still wanted.
	pos   position
	floor time.Time
}

// position is a point in a container's output: the time of the last printed line and how
// many printed lines carry exactly that time. The count makes resuming exact even when a
// burst of lines shares one timestamp.
//
// After an attached stream, the point is a count instead: attached lines carry the time comp
// read them, which can come before the time the engine's log gives the same line (it
// timestamps its copy separately), so a time would print them again. The attached stream
// began before the container's first start, so the log's first attached lines are exactly
// what it printed.
type position struct {
	at time.Time
	n  int
	// attached counts the lines an attached stream printed, from the container's first.
	attached int
}

func (p *position) advance(t time.Time) {
	switch {
	case t.IsZero():
		// A backend without timestamps: nothing to resume from.
	case t.After(p.at):
		p.at, p.n = t, 1
	case t.Equal(p.at):
		p.n++
	}
}

// streamEnd reports that one container's stream ended, and where.
type streamEnd struct {
	id  string
	pos position
	err error
}

// printAll prints every listed container's output concurrently and waits for all of it.
func (f *follower) printAll() error {
	cs, err := f.list()
	if err != nil {
		return err
	}
	for _, c := range cs {
		f.printer.Register(runtime.DisplayName(c.Name, c.Labels))
	}
	opts := runtime.LogOptions{Tail: f.opts.Tail, Since: f.opts.Since, Until: f.opts.Until}
	for _, c := range cs {
		f.wg.Go(func() {
			name := runtime.DisplayName(c.Name, c.Labels)
			err := f.src.Logs(f.ctx, c.ID, opts, func(l runtime.LogLine) { f.printer.Line(name, l) })
			if err != nil {
				f.fail(name, fmt.Errorf("logs of %s: %w", name, err))
			}
		})
	}
	f.wg.Wait()
	return f.err()
}

// follow runs the event loop of Follow with opts.Follow.
func (f *follower) follow(events <-chan runtime.Event, eventErrs <-chan error) error {
	cs, err := f.list()
	if err != nil {
		return err
	}
	for _, c := range cs {
		t := f.add(c)
		t.initial = true
		// A container listed as running (or about to be) counts as alive until it dies.
		t.alive = isAlive(c.State)
		if f.opts.ReportEarlierExits && !t.alive && (c.State == runtime.StateExited || c.State == runtime.StateDead) {
			// It exited before Follow began: report that exit after its output, as if seen.
			t.exits = []int{c.ExitCode}
			t.exitedEarlier = true
		}
	}
	for _, c := range cs {
		f.start(f.containers[c.ID])
	}

	grace := f.opts.ExitGrace
	if grace <= 0 {
		grace = DefaultExitGrace
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// With UntilAllExit, once nothing runs, wait out the grace for a late restart — unless
		// no restart can come.
		var graceC <-chan time.Time
		if f.opts.UntilAllExit && f.opts.EndAtLastExit && f.settled() {
			return f.stop(nil)
		}
		if f.opts.UntilAllExit && f.allExited() {
			if timer == nil {
				timer = time.NewTimer(grace)
			}
			graceC = timer.C
		} else if timer != nil {
			timer.Stop()
			timer = nil
		}

		select {
		case <-f.ctx.Done():
			return f.stop(nil)
		case ev, ok := <-events:
			if !ok {
				// Its reason, if any, comes on eventErrs: wait for that before giving up.
				events = nil
				if eventErrs == nil {
					return f.stop(f.eventsEnded(nil))
				}
				continue
			}
			f.event(ev)
		case err, ok := <-eventErrs:
			if ok && err != nil {
				return f.stop(f.eventsEnded(err))
			}
			eventErrs = nil
			if events == nil {
				return f.stop(f.eventsEnded(nil))
			}
		case end := <-f.ended:
			f.streamEnded(end)
		case id := <-f.retry:
			if t := f.containers[id]; t != nil && !t.streaming {
				f.start(t)
			}
		case <-graceC:
			timer = nil
			if f.allExited() {
				return f.stop(nil)
			}
		}
	}
}

// eventsEnded is the error of Follow when the event stream ends, for the reason err: without
// events, new and restarted containers would go unseen. The end of ctx is no error.
func (f *follower) eventsEnded(err error) error {
	if f.ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("the event stream ended")
	}
	return fmt.Errorf("watch events of project %s: %w", f.opts.Project, err)
}

// add starts tracking c and gives it its color and column width.
func (f *follower) add(c runtime.Container) *followed {
	t := &followed{c: c, name: runtime.DisplayName(c.Name, c.Labels), floor: f.opts.Since}
	f.containers[c.ID] = t
	f.printer.Register(t.name)
	return t
}

// event updates the followed containers after one runtime event.
func (f *follower) event(ev runtime.Event) {
	if !f.wants(ev.Labels) {
		return
	}
	t := f.containers[ev.Container]
	switch ev.Action {
	case "start", "restart", "unpause":
		if t == nil {
			// A new container: a scale-up, a recreate, or one started after Follow began.
			t = f.add(runtime.Container{ID: ev.Container, Name: ev.Name, Labels: ev.Labels, State: runtime.StateRunning})
		}
		t.alive = true
		t.exitedEarlier = false
		t.exitReported = false
		if t.streaming {
			// The stream may be that of the run before; read again once it has drained.
			t.resume = true
		} else {
			f.start(t)
		}
	case "die":
		if t == nil {
			return
		}
		if t.exitedEarlier {
			// The exit the listing saw, announced late: reported once already.
			t.exitedEarlier = false
			return
		}
		if t.streaming {
			t.exits = append(t.exits, ev.ExitCode)
			state := ""
			if ev.Restarting {
				state = runtime.StateRestarting
			} else if c, err := f.src.InspectContainer(f.ctx, ev.Container); err == nil {
				state = c.State
			}
			t.exitStates = append(t.exitStates, state)
		} else {
			var states []string
			if ev.Restarting {
				states = []string{runtime.StateRestarting}
			}
			f.exited(t, []int{ev.ExitCode}, states)
		}
	case "destroy":
		// The only news of a container removed before it ever started.
		if t != nil {
			t.alive = false
		}
	}
}

// start streams t's output from just past its last printed line.
func (f *follower) start(t *followed) {
	opts := runtime.LogOptions{Follow: true, Tail: TailAll, Since: t.floor, Until: f.opts.Until}
	if t.initial {
		t.initial = false
		opts.Tail = f.opts.Tail
		if opts.Tail >= 0 {
			// Lines older than now were left out on purpose; a later stream must not print them.
			t.floor = later(t.floor, time.Now())
		}
	}
	skip, skipFirst := 0, 0
	switch {
	case t.pos.attached > 0 && t.floor.IsZero():
		opts.Since, skipFirst = time.Time{}, t.pos.attached
	case !t.pos.at.IsZero() && !t.pos.at.Before(t.floor):
		opts.Since, skip = t.pos.at, t.pos.n
	}
	t.streaming = true
	id, name, pos := t.c.ID, t.name, t.pos
	read := func(sink func(runtime.LogLine)) error { return f.src.Logs(f.ctx, id, opts, sink) }
	fromAttached := false
	if f.opts.Attached != nil {
		if attached, ok := f.opts.Attached(id); ok {
			// Everything the run printed, as it printed it: no line to skip by time.
			opts.Since, skip, skipFirst, fromAttached = time.Time{}, 0, 0, true
			pos = position{}
			read = func(sink func(runtime.LogLine)) error { return attached(f.ctx, sink) }
		}
	}
	f.wg.Go(func() {
		err := read(func(l runtime.LogLine) {
			if skipFirst > 0 {
				skipFirst--
				return
			}
			if fromAttached {
				f.printer.Line(name, l)
				pos.attached++
				return
			}
			if !l.Time.IsZero() && !opts.Since.IsZero() {
				// The backend's Since may be coarser than a nanosecond: drop what was printed.
				if l.Time.Before(opts.Since) {
					return
				}
				if skip > 0 && l.Time.Equal(opts.Since) {
					skip--
					return
				}
			}
			f.printer.Line(name, l)
			pos.advance(l.Time)
			pos.attached = 0 // past the attached lines: the log's times position from here
		})
		select {
		case f.ended <- streamEnd{id: id, pos: pos, err: err}:
		case <-f.ctx.Done():
		}
	})
}

// streamEnded decides what follows the end of a container's stream: report its exits, read
// it again when it restarted, or note that it stopped.
func (f *follower) streamEnded(end streamEnd) {
	t := f.containers[end.id]
	if t == nil {
		return
	}
	t.streaming, t.pos = false, end.pos
	if end.err != nil {
		f.fail(t.name, fmt.Errorf("logs of %s: %w", t.name, end.err))
	}
	inspected := false
	if len(t.exits) > 0 {
		exits, states := t.exits, t.exitStates
		t.exits, t.exitStates = nil, nil
		f.exited(t, exits, states)
		inspected = true
	}
	if t.resume {
		t.resume = false
		f.start(t)
		return
	}
	if !inspected {
		f.inspect(t)
	}
	if t.c.State == runtime.StateRunning && end.err == nil {
		// Still running with no restart seen: the stream ended early. Read on, from pos.
		id := t.c.ID
		f.wg.Go(func() {
			select {
			case <-time.After(retryDelay):
				select {
				case f.retry <- id:
				case <-f.ctx.Done():
				}
			case <-f.ctx.Done():
			}
		})
	}
}

// exited reports the exits of t, after inspecting it so the caller can tell a restart.
func (f *follower) exited(t *followed, codes []int, states []string) {
	f.inspect(t)
	if t.c.State == "" {
		// Already removed: it exited with the last code, and nothing brings it back.
		t.c.State, t.c.ExitCode = runtime.StateExited, codes[len(codes)-1]
	}
	if f.opts.OnExit != nil {
		for i, code := range codes {
			c := t.c
			if i < len(states) && isAlive(states[i]) {
				// An exit followed by a restart: say so, whatever the state now.
				c.State = states[i]
			}
			f.opts.OnExit(c, code)
		}
	}
	t.exitReported = !t.alive
}

// settled tells whether every followed container has exited, had that exit reported, and has
// a restart policy that will not bring it back: then no late event can be news, and
// UntilAllExit need not wait out its grace.
func (f *follower) settled() bool {
	if !f.allExited() {
		return false
	}
	for _, t := range f.containers {
		if !t.exitReported || mayRestart(t.c) {
			return false
		}
	}
	return true
}

// mayRestart tells whether c's restart policy could start it again after its exit (as
// inspected). An unknown policy may.
func mayRestart(c runtime.Container) bool {
	switch c.Restart.Name {
	case "no":
		return false
	case "on-failure":
		return c.ExitCode != 0 && (c.Restart.MaxRetries <= 0 || c.RestartCount < c.Restart.MaxRetries)
	default: // always, unless-stopped, or not known
		return true
	}
}

// inspect refreshes t's container and whether it is alive. A container that cannot be
// inspected (removed) is not alive, and its State is left "".
func (f *follower) inspect(t *followed) {
	c, err := f.src.InspectContainer(f.ctx, t.c.ID)
	if err != nil {
		t.c.State = ""
		t.alive = false
		return
	}
	t.c = c
	t.alive = isAlive(c.State)
}

// allExited tells whether no followed container runs, is about to, or has output pending.
func (f *follower) allExited() bool {
	for _, t := range f.containers {
		if t.alive || t.streaming || len(t.exits) > 0 {
			return false
		}
	}
	return true
}

// stop ends every stream and returns err joined with the streams' failures.
func (f *follower) stop(err error) error {
	f.cancel()
	f.wg.Wait()
	return errors.Join(err, f.err())
}

// fail records one container's failure, or hands it to opts.OnError, one call at a time. A
// failure caused by the end of ctx is none.
func (f *follower) fail(name string, err error) {
	if f.ctx.Err() != nil {
		return
	}
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.opts.OnError != nil {
		f.opts.OnError(name, err)
		return
	}
	f.errs = append(f.errs, err)
}

func (f *follower) err() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return errors.Join(f.errs...)
}

// isAlive tells whether a container in state runs or is about to.
func isAlive(state string) bool {
	switch state {
	case runtime.StateRunning, runtime.StateRestarting, runtime.StatePaused, runtime.StateCreated:
		return true
	}
	return false
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
