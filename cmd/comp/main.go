// Command comp runs Compose projects: it reads compose.yaml, orders services by their
// dependencies, and creates, converges and tears down their networks, volumes and containers on
// the embedded runtime or on Docker Engine.
package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/supervisor"
)

func main() {
	// A container's init, comp's minimal init or a supervisor (a comp built without the lean
	// core runs those itself) never returns from here.
	supervisor.Reexec()
	quietStartupGC()
	os.Exit(run(os.Args[1:]))
}

// quietStartupGC leaves the garbage collector off for comp's first second, under a memory
// limit, then restores Go's defaults. Most commands end within that second, and loading a
// project (compose-go compiles the compose JSON Schema in every process) makes a burst of
// garbage: collecting it was a fifth of a no-op up's time (36 -> 28 ms, +9 MB peak RSS).
// Long-running commands (logs -f, attached up) collect as usual after the first second. A
// GOGC or GOMEMLIMIT in the environment is left alone.
func quietStartupGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	const startupHeapLimit = 64 << 20
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(startupHeapLimit)
	time.AfterFunc(time.Second, func() {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

// run executes the comp CLI with args and returns the process exit status.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	streams := SystemStreams()
	root := newRootCmd(streams, connectRuntime)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var st *exitStatus
	if errors.As(err, &st) {
		if st.msg != "" {
			fmt.Fprintln(streams.Err, st.msg)
		}
		return st.code
	}
	fmt.Fprintln(streams.Err, "Error: "+err.Error())
	return 1
}

// exitStatus ends the command with a given code (and an optional message) without "Error:".
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// newRootCmd builds the comp command on streams, reaching runtimes through newRuntime (a
// test gives a fake).
func newRootCmd(streams *IOStreams, newRuntime func(ctx context.Context, name string) (runtime.Runtime, error)) *cobra.Command {
	g := &globalOptions{streams: streams, newRuntime: newRuntime}
	root := &cobra.Command{
		Use:           "comp",
		Short:         "Run Compose projects on the embedded runtime or on Docker Engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.complete()
		},
	}
	g.addFlags(root)
	root.AddCommand(
		newConfigCmd(g),
		newUpCmd(g),
		newDownCmd(g),
		newLogsCmd(g),
		newPsCmd(g),
		newLsCmd(g),
		newStartCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newKillCmd(g),
		newRmCmd(g),
		newExecCmd(g),
		newRunCmd(g),
		newPullCmd(g),
		newImagesCmd(g),
		newPortCmd(g),
		newTopCmd(g),
		newVersionCmd(g),
		newImageCmd(g),
		newBuildCmd(g),
		newVolumeCmd(g),
		newWaitCmd(g),
		newEventsCmd(g),
	)
	return root
}
