package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
)

// pull fetches the image once per contender, untimed, so that every `up` from nothing finds it
// present: the benchmark measures comp, not the registry.
func (b *bench) pull(ctx context.Context, st stack, contenders []contender) {
	for _, c := range contenders {
		p := b.started[b.projectName(st, c)]
		if _, err := b.exec(ctx, p, []string{"pull"}); err != nil {
			b.logf("%s: pull (untimed): %v", c.name, err)
			b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("%s: the untimed pull failed: %v", c.name, err))
		}
	}
}

func (b *bench) projectName(st stack, c contender) string {
	return fmt.Sprintf("bench%s-%s-%s", b.runID, st.name, c.name)
}

func (b *bench) exec(ctx context.Context, p *target, args []string) (float64, error) {
	d, err := timed(ctx, invocation{contender: p.contender, dir: p.dir, project: p.name, args: args, env: b.env}, b.opts.timeout)
	return d.Seconds(), err
}

// round runs st's operations on c once, in order, from nothing back to nothing. When one
// fails, the rest of the round is skipped and the project is torn down untimed, so that the
// next round starts from nothing again.
func (b *bench) round(ctx context.Context, st stack, c contender, round int) {
	p := b.started[b.projectName(st, c)]
	p.dirty = true
	failedOp := ""
	for _, op := range st.ops {
		s := b.rep.series(st.name, op.name, c.name, p.name)
		if failedOp != "" {
			s.Samples = append(s.Samples, sample{Round: round, Skipped: true, Error: "skipped: " + failedOp + " failed"})
			continue
		}
		secs, err := b.exec(ctx, p, op.args)
		if ctx.Err() != nil {
			return // interrupted: not a measurement; the clean-up tears the project down
		}
		smp := sample{Round: round, Seconds: secs}
		if err != nil {
			smp.Error = err.Error()
			failedOp = op.name
			b.logf("%-10s round %d/%d  %-9s %-14s failed after %.3fs: %s", st.name, round, b.opts.rounds, c.name, op.name, secs, err)
		} else {
			b.logf("%-10s round %d/%d  %-9s %-14s %.3fs", st.name, round, b.opts.rounds, c.name, op.name, secs)
		}
		s.Samples = append(s.Samples, smp)
		if err == nil && op.name == opDown {
			p.dirty = false
		}
		if err == nil && c.name == embedded && op.name == st.supervisorAfter {
			b.sampleSupervisor(st, p, round)
		}
	}
	if p.dirty {
		if err := b.teardown(ctx, p); err != nil {
			b.logf("%s: untimed teardown after a failure: %v", p.name, err)
		}
	}
}

// sampleSupervisor records the peak memory of p's supervisor.
func (b *bench) sampleSupervisor(st stack, p *target, round int) {
	sp := b.rep.Supervisor
	if sp == nil {
		sp = &supervisorPeaks{Stack: st.name, After: st.supervisorAfter, Containers: strings.Count(st.compose, "\n    image: ")}
		b.rep.Supervisor = sp
	}
	peak, err := supervisorPeak(b.layout, b.binary, p.name)
	if err != nil {
		sp.Samples = append(sp.Samples, peakSample{Round: round, Error: err.Error()})
		b.logf("%-10s round %d/%d  supervisor peak RSS: %v", st.name, round, b.opts.rounds, err)
		return
	}
	mib := float64(peak) / (1 << 20)
	sp.Samples = append(sp.Samples, peakSample{Round: round, MiB: mib})
	b.logf("%-10s round %d/%d  supervisor peak RSS: %.1f MiB", st.name, round, b.opts.rounds, mib)
}

// teardown removes whatever p holds, untimed, with the same flags as the timed down.
func (b *bench) teardown(ctx context.Context, p *target) error {
	if _, err := b.exec(ctx, p, []string{"down", "-v", "-t", "0", "--remove-orphans"}); err != nil {
		return err
	}
	p.dirty = false
	return nil
}

// cleanup removes everything the run made: the projects left after a failure or an
// interruption, the supervisors, the embedded state folder it made and the images it pulled
// into Docker.
func (b *bench) cleanup(ctx context.Context, registryAddr string) error {
	var errs []error
	names := make([]string, 0, len(b.started))
	for name := range b.started {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if p := b.started[name]; p.dirty {
			b.logf("%s: tearing down what is left", name)
			if err := b.teardown(ctx, p); err != nil {
				errs = append(errs, fmt.Errorf("tear down %s: %w", name, err))
			}
		}
	}
	usesDocker := false
	for _, c := range b.active {
		switch c.name {
		case embedded:
			stopSupervisors(b.layout, b.binary, func(project string) bool { return b.started[project] != nil })
		case docker, compose:
			usesDocker = true
		}
	}
	if b.ownedState != "" {
		mounts, err := mountsUnder(b.ownedState)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("keep %s: %w", b.ownedState, err))
		case len(mounts) > 0:
			errs = append(errs, fmt.Errorf("keep %s: %d mounts remain under it (first: %s)", b.ownedState, len(mounts), mounts[0]))
		default:
			if err := os.RemoveAll(b.ownedState); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if usesDocker {
		if err := removeDockerImages(ctx, registryAddr); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		b.rep.Notes = append(b.rep.Notes, "clean-up: "+err.Error())
	}
	return err
}

func opNames(ops []operation) []string {
	var names []string
	for _, op := range ops {
		names = append(names, op.name)
	}
	return names
}

func machineInfo() machine {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return machine{CPUs: goruntime.NumCPU(), Kernel: strings.TrimSpace(string(kernel)), Go: goruntime.Version()}
}
