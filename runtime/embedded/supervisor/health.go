package supervisor

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Docker's healthcheck defaults.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthRetries       = 3
	defaultHealthStartInterval = 5 * time.Second
)

// healthcheck is a container's effective healthcheck: the service's, else the image's.
func healthcheck(spec runtime.ContainerSpec, img v1.Config) *runtime.Healthcheck {
	hc := spec.Healthcheck
	if hc == nil && img.Healthcheck != nil && len(img.Healthcheck.Test) > 0 {
		ih := img.Healthcheck
		hc = &runtime.Healthcheck{Test: ih.Test, Interval: ih.Interval, Timeout: ih.Timeout,
			StartPeriod: ih.StartPeriod, Retries: ih.Retries}
	}
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	if len(hc.Test) > 0 && hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" {
		// compose-go normalises a string test to CMD-SHELL; a bare list is CMD.
		hc = &runtime.Healthcheck{Test: append([]string{"CMD"}, hc.Test...), Interval: hc.Interval,
			Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: hc.Retries}
	}
	return hc
}

// startProbe runs the healthcheck hc (if any) of e's current run until exited closes.
func (s *Supervisor) startProbe(e *entry, hc *runtime.Healthcheck, exited <-chan struct{}, startedAt time.Time) {
	if hc == nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		<-exited
		stop()
	}()
	go s.probe(ctx, e, s.record(e).ID, hc, startedAt)
}

// probe runs e's healthcheck inside the container until ctx ends (the container stopped),
// keeping its health status in the record and announcing every change with a health_status
// event. During the start period failures do not count and probes run every start_interval.
func (s *Supervisor) probe(ctx context.Context, e *entry, id string, hc *runtime.Healthcheck, startedAt time.Time) {
	interval := orDefault(hc.Interval, defaultHealthInterval)
	timeout := orDefault(hc.Timeout, defaultHealthTimeout)
	startInterval := orDefault(hc.StartInterval, defaultHealthStartInterval)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	args := hc.Test[1:]
	if hc.Test[0] == "CMD-SHELL" {
		args = append([]string{"/bin/sh", "-c"}, args...)
	}
	failures := 0
	for {
		wait := interval
		inStart := hc.StartPeriod > 0 && time.Since(startedAt) < hc.StartPeriod
		if inStart && startInterval < wait {
			wait = startInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		code, err := s.mgr.Exec(pctx, id, container.Process{Args: args, Stdout: io.Discard, Stderr: io.Discard})
		cancel()
		if ctx.Err() != nil {
			return
		}
		healthy := err == nil && code == 0
		status := ""
		switch {
		case healthy:
			failures = 0
			status = runtime.HealthHealthy
		case inStart && hc.StartPeriod > 0 && time.Since(startedAt) < hc.StartPeriod:
			continue // failures in the start period do not count
		default:
			failures++
			if failures < retries {
				continue
			}
			status = runtime.HealthUnhealthy
		}
		changed := false
		rec := s.update(e, func(r *state.Record) {
			if changed = r.Health != status && e.c != nil; changed {
				r.Health = status
			}
		})
		if changed {
			s.save(e)
			s.emit(rec, "health_status", 0)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
