// Package restart decides when the embedded supervisor restarts a container that exited, as
// Docker's restart manager does. It is a pure state machine: no I/O, time is passed in.
package restart

import (
	"encoding/json"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Back-off of Docker's restart manager: the first restart waits backoffStart, each next one
// twice as long up to backoffMax; a container that ran for backoffReset starts over.
const (
	backoffStart = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// Policy names, as in runtime.RestartPolicy.
const (
	No            = "no"
	Always        = "always"
	OnFailure     = "on-failure"
	UnlessStopped = "unless-stopped"
)

// Options add compose's deploy.restart_policy settings to a policy. The caller maps its
// condition none, on-failure and any onto No, OnFailure and Always, and max_attempts onto
// MaxRetries, which then also limits Always and UnlessStopped (Docker refuses that mix; compose
// asks for it).
type Options struct {
	// Delay, when non-zero, is the wait before every restart instead of the back-off.
	Delay time.Duration
	// Window, when non-zero, makes MaxRetries count only the restarts of the last Window:
	// older ones are taken to have succeeded, as swarm's restart window does.
	Window time.Duration
}

// Tracker holds one container's restart state. Its zero value never restarts. It is not
// safe for concurrent use. A Tracker round-trips through encoding/json, so a restarted
// supervisor keeps counting; a container started again by the user gets a new Tracker, as
// Docker resets its restart count then.
type Tracker struct {
	policy   runtime.RestartPolicy
	opts     Options
	count    int
	backoff  time.Duration // the last back-off; 0 before the first exit
	restarts []time.Time   // times of the latest restarts, for Window
}

// NewTracker returns the state of a container with policy p, before its first exit.
func NewTracker(p runtime.RestartPolicy) *Tracker {
	return &Tracker{policy: p}
}

// NewTrackerOptions is NewTracker with compose's delay and window.
func NewTrackerOptions(p runtime.RestartPolicy, o Options) *Tracker {
	return &Tracker{policy: p, opts: o}
}

// Exited records that the container's process exited with code at now, having started at
// startedAt; stoppedByUser says that `comp stop`, `down` or `kill` caused it. It returns
// whether to restart and after which delay: 100 ms, doubling with each exit up to one minute,
// and back to 100 ms after a run of at least 10 s (or Options.Delay). Always and UnlessStopped
// restart after any exit, OnFailure after a non-zero code; No and unknown names never do.
// MaxRetries (0: no limit) caps the restarts of any policy. A user stop is never undone.
func (t *Tracker) Exited(code int, startedAt, now time.Time, stoppedByUser bool) (restart bool, delay time.Duration) {
	if now.Sub(startedAt) >= backoffReset {
		t.backoff = 0
	}
	switch {
	case t.backoff == 0:
		t.backoff = backoffStart
	case t.backoff < backoffMax:
		t.backoff = min(2*t.backoff, backoffMax)
	}

	switch t.policy.Name {
	case Always, UnlessStopped:
		restart = true
	case OnFailure:
		restart = code != 0
	}
	if !restart || stoppedByUser || t.exhausted(now) {
		return false, 0
	}
	t.count++
	if max := t.policy.MaxRetries; max > 0 {
		t.restarts = append(t.restarts, now)
		if len(t.restarts) > max {
			t.restarts = t.restarts[len(t.restarts)-max:]
		}
	}
	if t.opts.Delay > 0 {
		return true, t.opts.Delay
	}
	return true, t.backoff
}

// exhausted says whether MaxRetries restarts were made (within Window, when set).
func (t *Tracker) exhausted(now time.Time) bool {
	max := t.policy.MaxRetries
	if max <= 0 {
		return false
	}
	if t.opts.Window <= 0 {
		return t.count >= max
	}
	recent := 0
	for _, at := range t.restarts {
		if now.Sub(at) < t.opts.Window {
			recent++
		}
	}
	return recent >= max
}

// RestartCount is the number of restarts decided so far.
func (t *Tracker) RestartCount() int {
	return t.count
}

// state is a Tracker as JSON.
type state struct {
	Policy   runtime.RestartPolicy `json:"policy"`
	Delay    time.Duration         `json:"delay,omitempty"`
	Window   time.Duration         `json:"window,omitempty"`
	Count    int                   `json:"restartCount"`
	Backoff  time.Duration         `json:"backoff,omitempty"`
	Restarts []time.Time           `json:"restarts,omitempty"`
}

// MarshalJSON encodes the policy and the counting so far.
func (t *Tracker) MarshalJSON() ([]byte, error) {
	return json.Marshal(state{
		Policy: t.policy, Delay: t.opts.Delay, Window: t.opts.Window,
		Count: t.count, Backoff: t.backoff, Restarts: t.restarts,
	})
}

// UnmarshalJSON restores a Tracker encoded by MarshalJSON.
func (t *Tracker) UnmarshalJSON(b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Tracker{
		policy: s.Policy, opts: Options{Delay: s.Delay, Window: s.Window},
		count: s.Count, backoff: s.Backoff, restarts: s.Restarts,
	}
	return nil
}
