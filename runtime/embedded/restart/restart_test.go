package restart

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// exit is one exit of the container and the decision expected for it.
type exit struct {
	code   int
	ran    time.Duration // how long the container ran before this exit
	byUser bool
	// after is how long after the previous exit this one comes (default: ran).
	after time.Duration

	restart bool
	delay   time.Duration
}

func TestExited(t *testing.T) {
	const ms = time.Millisecond
	quick := func(code int, restart bool, delay time.Duration) exit {
		return exit{code: code, ran: time.Second, restart: restart, delay: delay}
	}
	tests := []struct {
		name   string
		policy runtime.RestartPolicy
		opts   Options
		exits  []exit
		count  int
	}{
		{
			name:   "on-failure:2 restarts exactly twice",
			policy: runtime.RestartPolicy{Name: OnFailure, MaxRetries: 2},
			exits:  []exit{quick(1, true, 100*ms), quick(1, true, 200*ms), quick(1, false, 0), quick(1, false, 0)},
			count:  2,
		},
		{
			name:   "on-failure without a maximum keeps restarting",
			policy: runtime.RestartPolicy{Name: OnFailure},
			exits:  []exit{quick(2, true, 100*ms), quick(2, true, 200*ms), quick(2, true, 400*ms), quick(2, true, 800*ms)},
			count:  4,
		},
		{
			name:   "exit 0 under on-failure does not restart",
			policy: runtime.RestartPolicy{Name: OnFailure, MaxRetries: 3},
			exits:  []exit{quick(0, false, 0), quick(3, true, 200*ms), quick(0, false, 0)},
			count:  1,
		},
		{
			name:   "always restarts after exit 0",
			policy: runtime.RestartPolicy{Name: Always},
			exits:  []exit{quick(0, true, 100*ms), quick(0, true, 200*ms), quick(137, true, 400*ms)},
			count:  3,
		},
		{
			name:   "no never restarts",
			policy: runtime.RestartPolicy{Name: No},
			exits:  []exit{quick(1, false, 0), quick(0, false, 0)},
		},
		{
			name:  "an empty policy never restarts",
			exits: []exit{quick(1, false, 0)},
		},
		{
			name:   "unless-stopped restarts after any exit, but a user stop is final",
			policy: runtime.RestartPolicy{Name: UnlessStopped},
			exits: []exit{
				quick(0, true, 100*ms), quick(1, true, 200*ms),
				{code: 143, ran: time.Second, byUser: true, restart: false},
			},
			count: 2,
		},
		{
			name:   "a user stop is never undone under always",
			policy: runtime.RestartPolicy{Name: Always},
			exits:  []exit{{code: 137, ran: time.Hour, byUser: true, restart: false}},
		},
		{
			name:   "a user stop is never undone under on-failure",
			policy: runtime.RestartPolicy{Name: OnFailure},
			exits:  []exit{{code: 137, ran: time.Second, byUser: true, restart: false}},
		},
		{
			name:   "back-off doubles and caps at one minute",
			policy: runtime.RestartPolicy{Name: Always},
			exits: []exit{
				quick(1, true, 100*ms), quick(1, true, 200*ms), quick(1, true, 400*ms),
				quick(1, true, 800*ms), quick(1, true, 1600*ms), quick(1, true, 3200*ms),
				quick(1, true, 6400*ms), quick(1, true, 12800*ms), quick(1, true, 25600*ms),
				quick(1, true, 51200*ms), quick(1, true, time.Minute), quick(1, true, time.Minute),
			},
			count: 12,
		},
		{
			name:   "back-off resets after 10 s up",
			policy: runtime.RestartPolicy{Name: Always},
			exits: []exit{
				quick(1, true, 100*ms), quick(1, true, 200*ms), quick(1, true, 400*ms),
				{code: 1, ran: 10 * time.Second, restart: true, delay: 100 * ms},
				quick(1, true, 200*ms),
				{code: 1, ran: 9 * time.Second, restart: true, delay: 400 * ms},
			},
			count: 6,
		},
		{
			name:   "compose delay replaces the back-off",
			policy: runtime.RestartPolicy{Name: Always},
			opts:   Options{Delay: 5 * time.Second},
			exits:  []exit{quick(1, true, 5*time.Second), quick(1, true, 5*time.Second), quick(0, true, 5*time.Second)},
			count:  3,
		},
		{
			name:   "compose max_attempts limits any condition",
			policy: runtime.RestartPolicy{Name: Always, MaxRetries: 1},
			exits:  []exit{quick(0, true, 100*ms), quick(0, false, 0)},
			count:  1,
		},
		{
			name:   "compose window counts only recent restarts",
			policy: runtime.RestartPolicy{Name: OnFailure, MaxRetries: 2},
			opts:   Options{Window: time.Minute},
			exits: []exit{
				quick(1, true, 100*ms), quick(1, true, 200*ms), quick(1, false, 0),
				// Two minutes on, the first restarts are out of the window.
				{code: 1, ran: time.Second, after: 2 * time.Minute, restart: true, delay: 800 * ms},
				quick(1, true, 1600*ms), quick(1, false, 0),
			},
			count: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTrackerOptions(tt.policy, tt.opts)
			if tt.policy.Name == "" {
				tr = &Tracker{}
			}
			now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
			for i, e := range tt.exits {
				after := e.after
				if after == 0 {
					after = e.ran
				}
				now = now.Add(after)
				restart, delay := tr.Exited(e.code, now.Add(-e.ran), now, e.byUser)
				if restart != e.restart || delay != e.delay {
					t.Errorf("exit %d (code %d after %v, by user %v) = %v, %v; want %v, %v",
						i+1, e.code, e.ran, e.byUser, restart, delay, e.restart, e.delay)
				}
				now = now.Add(delay)
			}
			if got := tr.RestartCount(); got != tt.count {
				t.Errorf("RestartCount() = %d, want %d", got, tt.count)
			}
		})
	}
}

func TestNewTrackerIsNewTrackerOptionsWithoutOptions(t *testing.T) {
	p := runtime.RestartPolicy{Name: OnFailure, MaxRetries: 1}
	a, b := NewTracker(p), NewTrackerOptions(p, Options{})
	now := time.Now()
	for range 2 {
		ra, da := a.Exited(1, now, now, false)
		rb, db := b.Exited(1, now, now, false)
		if ra != rb || da != db {
			t.Fatalf("NewTracker gave %v, %v; NewTrackerOptions gave %v, %v", ra, da, rb, db)
		}
	}
}

func TestRestoredTrackerKeepsCounting(t *testing.T) {
	p := runtime.RestartPolicy{Name: OnFailure, MaxRetries: 3}
	tr := NewTrackerOptions(p, Options{Window: time.Hour})
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tr.Exited(1, now.Add(-time.Second), now, false)
	now = now.Add(time.Second)
	tr.Exited(1, now.Add(-time.Second), now, false)

	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var restored Tracker
	if err := json.Unmarshal(b, &restored); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if restored.RestartCount() != 2 {
		t.Errorf("restored RestartCount() = %d, want 2 (from %s)", restored.RestartCount(), b)
	}
	now = now.Add(time.Second)
	if restart, delay := restored.Exited(1, now.Add(-time.Second), now, false); !restart || delay != 400*time.Millisecond {
		t.Errorf("restored tracker's third exit = %v, %v; want a restart after 400ms (back-off kept)", restart, delay)
	}
	now = now.Add(time.Second)
	if restart, _ := restored.Exited(1, now.Add(-time.Second), now, false); restart {
		t.Errorf("restored tracker restarted a fourth time, want at most 3 (from %s)", b)
	}
}
