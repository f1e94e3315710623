package logs

import (
	"context"
	"sync"

	"github.com/comp-dev/comp/runtime"
)

// Attached holds container output streams attached just before their containers started
// (runtime.OutputAttacher) until Follow takes each over (FollowOptions.Attached).
//
// Each stream is drained into memory from the moment it is added: an attached container whose
// output nobody reads blocks on its next write, and attached `up` only starts following once
// every container has started — after waiting, maybe, for one of them to complete.
type Attached struct {
	mu      sync.Mutex
	streams map[string]*attachedStream
}

// NewAttached returns an empty set of attached streams.
func NewAttached() *Attached {
	return &Attached{streams: map[string]*attachedStream{}}
}

// attachedStream is one container's drained output: lines not yet taken, and how it ended.
type attachedStream struct {
	mu    sync.Mutex
	lines []runtime.LogLine
	done  bool
	err   error
	wake  chan struct{} // closed (and replaced) when lines arrive or the stream ends
}

// Add starts draining stream, the output of container id, until it ends or ctx does.
func (a *Attached) Add(ctx context.Context, id string, stream func(sink func(runtime.LogLine)) error) {
	s := &attachedStream{wake: make(chan struct{})}
	a.mu.Lock()
	a.streams[id] = s
	a.mu.Unlock()
	go func() {
		err := stream(func(l runtime.LogLine) {
			s.mu.Lock()
			s.lines = append(s.lines, l)
			s.signal()
			s.mu.Unlock()
		})
		s.mu.Lock()
		s.done, s.err = true, err
		s.signal()
		s.mu.Unlock()
	}()
}

func (s *attachedStream) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Take hands over container id's stream, once: the returned function passes its lines to sink
// until the stream ends (returning its error) or ctx does. A nil Attached has none.
func (a *Attached) Take(id string) (func(ctx context.Context, sink func(runtime.LogLine)) error, bool) {
	if a == nil {
		return nil, false
	}
	a.mu.Lock()
	s, ok := a.streams[id]
	delete(a.streams, id)
	a.mu.Unlock()
	if !ok {
		return nil, false
	}
	return s.read, true
}

// read passes on the drained lines, then the new ones as they come, until the stream ends.
func (s *attachedStream) read(ctx context.Context, sink func(runtime.LogLine)) error {
	for {
		s.mu.Lock()
		lines, done, err, wake := s.lines, s.done, s.err, s.wake
		s.lines = nil
		s.mu.Unlock()
		for _, l := range lines {
			sink(l)
		}
		if done {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
	}
}
