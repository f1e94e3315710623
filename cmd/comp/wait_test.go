package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// waitingRuntime adds WaitContainer to fakeRuntime: a container's wait returns its code once
// its channel is closed.
type waitingRuntime struct {
	*fakeRuntime
	codes   map[string]int
	release map[string]chan struct{}
}

func (w *waitingRuntime) WaitContainer(ctx context.Context, id string) (int, error) {
	select {
	case <-w.release[id]:
		return w.codes[id], nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func TestWaitContainers(t *testing.T) {
	job, other, db := container("demo", "job", 1, runtime.StateRunning), container("demo", "job", 2, runtime.StateExited),
		container("demo", "db", 1, runtime.StateRunning)
	created := container("demo", "job", 3, runtime.StateCreated)
	newRuntime := func() *waitingRuntime {
		return &waitingRuntime{
			fakeRuntime: &fakeRuntime{containers: []runtime.Container{job, other, db, created}},
			codes:       map[string]int{job.ID: 5, other.ID: 3, db.ID: 0},
			release:     map[string]chan struct{}{job.ID: make(chan struct{}), other.ID: make(chan struct{}), db.ID: make(chan struct{})},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("every container of the services, the first exit's code", func(t *testing.T) {
		rt := newRuntime()
		close(rt.release[other.ID])
		type result struct {
			code int
			err  error
		}
		res := make(chan result, 1)
		var out bytes.Buffer
		go func() {
			code, err := waitContainers(ctx, rt, &out, "demo", []string{"job"}, false)
			res <- result{code, err}
		}()
		select {
		case r := <-res:
			t.Fatalf("returned %v before job-1 exited", r)
		case <-time.After(50 * time.Millisecond):
		}
		close(rt.release[job.ID])
		r := <-res
		if r.err != nil || r.code != 3 {
			t.Fatalf("waitContainers = %d, %v; want 3 (job-2 exited first)", r.code, r.err)
		}
		want := "container \"demo-job-2\" exited with status code 3\ncontainer \"demo-job-1\" exited with status code 5\n"
		if out.String() != want {
			t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
		}
	})
	t.Run("only the first with --down-project", func(t *testing.T) {
		rt := newRuntime()
		close(rt.release[job.ID])
		var out bytes.Buffer
		code, err := waitContainers(ctx, rt, &out, "demo", []string{"job", "db"}, true)
		if err != nil || code != 5 {
			t.Fatalf("waitContainers = %d, %v; want 5", code, err)
		}
		if want := "container \"demo-job-1\" exited with status code 5\n"; out.String() != want {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	})
	t.Run("no container", func(t *testing.T) {
		_, err := waitContainers(ctx, newRuntime(), &bytes.Buffer{}, "demo", []string{"nosuch"}, false)
		if err == nil || err.Error() != `no containers for project "demo"` {
			t.Errorf("err = %v", err)
		}
	})
}
