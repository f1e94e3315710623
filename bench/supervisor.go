package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/state"
)

// supervisorPeak returns the peak resident memory (VmHWM, in bytes) of project's supervisor
// (run by the lean core installed in layout, or by binary).
func supervisorPeak(layout state.Layout, binary, project string) (int64, error) {
	pids := layout.Supervisors(binary)[project]
	if len(pids) != 1 {
		return 0, fmt.Errorf("%d supervisors of project %s run, want 1", len(pids), project)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pids[0]))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "VmHWM:     23456 kB"
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: unexpected VmHWM line %q", pids[0], sc.Text())
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: %w", pids[0], err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pids[0])
}

// stopSupervisors ends the supervisors of layout that still run for the run's projects: each
// exits by itself a few seconds after its project is gone, but the run must leave no process
// behind. It waits up to 10 s for them to go.
func stopSupervisors(layout state.Layout, binary string, ours func(project string) bool) {
	left := func() []int {
		var pids []int
		for project, ps := range layout.Supervisors(binary) {
			if ours(project) {
				pids = append(pids, ps...)
			}
		}
		return pids
	}
	for _, pid := range left() {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(left()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}
