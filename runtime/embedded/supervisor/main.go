package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// Reexec runs the process when this binary was started by the embedded runtime rather than
// by a user — a container's init (libcontainer's re-exec), comp's minimal init inside a
// container, or `__supervise PROJECT` — and never returns then; otherwise it returns at once.
// Both comp and comp-core call it first thing in main.
func Reexec() {
	container.Init()
	if len(os.Args) == 3 && os.Args[1] == SubcommandName {
		os.Exit(Main(os.Args[2]))
	}
}

// Main is the process `comp __supervise PROJECT` (or `comp-core __supervise PROJECT`): the
// detached supervisor of project on the embedded runtime. It returns the exit status.
func Main(project string) int {
	// Go's default GC target: GOGC=25 (tried for a smaller heap) cost 3-5 % of a 20-container
	// up in collections, for 1.5 MiB less peak memory (19.5 MiB with the lean core).
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
