package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Main is the process `comp __supervise PROJECT` (or `comp-core __supervise PROJECT`): the
// detached supervisor of project on the embedded runtime. It returns the exit status.
func Main(project string) int {
	// A supervisor lives long and allocates little: collect more often for a small heap
	// (the benchmark's budget is 30 MiB with 20 containers).
	debug.SetGCPercent(25)
	// COMP_SUPERVISOR_CPUPROFILE=FILE profiles the supervisor until it exits (bench/README).
	if path := os.Getenv("COMP_SUPERVISOR_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			defer f.Close() // after the profile is written: defers run last first
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, state.DefaultLayout(), project); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		return 1
	}
	return 0
}
