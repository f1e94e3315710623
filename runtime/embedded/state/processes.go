package state

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// SuperviseCommand is the hidden command that runs a project's supervisor:
// `comp __supervise PROJECT`, or `comp-core __supervise PROJECT` (package core).
const SuperviseCommand = "__supervise"

// Supervisors returns the PIDs of the running supervisors of l, by project: the processes
// `EXE __supervise PROJECT` whose executable is a core installed in l's bin folder or one of
// comps (a comp built without the core runs its supervisors itself). Tests and the benchmark
// use it to find, measure and stop the supervisors they started.
func (l Layout) Supervisors(comps ...string) map[string][]int {
	found := map[string][]int{}
	for pid, exe := range Executables() {
		if filepath.Dir(exe) != l.Bin() && !slices.Contains(comps, exe) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) == 3 && args[1] == SuperviseCommand {
			found[args[2]] = append(found[args[2]], pid)
		}
	}
	return found
}

// Executables returns the executable of each process of the machine that this one may read,
// by PID (/proc/PID/exe, a deleted file's path without " (deleted)").
func Executables() map[int]string {
	exes := map[int]string{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe")); err == nil {
			exes[pid] = strings.TrimSuffix(exe, " (deleted)")
		}
	}
	return exes
}
