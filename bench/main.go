// Command bench compares comp with its peers on the same compose stacks: comp on the embedded
// runtime, comp on the Docker runtime, and Docker Compose when it is installed. Each round runs
// every stack's operations on every runtime in turn (A B C A B C …), timing each command by the
// wall clock, and the run ends with a table of medians, ranges and comp/peer ratios (or JSON).
// See bench/README.md.
//
//	go run ./bench [--rounds 5] [--stacks wide20,chain10,healthy5,logs4x50k]
//	               [--runtimes embedded,docker,compose] [--json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/state"
)

// options are the command's flags.
type options struct {
	rounds         int
	stacks         []string
	runtimes       []string
	json           bool
	installCompose bool
	// comp is a comp binary to measure; empty builds ./cmd/comp.
	comp string
	// stateRoot is the embedded runtime's COMP_ROOT; empty makes a folder removed at the end.
	stateRoot string
	timeout   time.Duration
}

func main() {
	var o options
	stacksFlag := strings.Join(stackNames(), ",")
	runtimesFlag := strings.Join(contenderNames, ",")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per stack; each round runs every runtime once, in turn")
	flag.StringVar(&stacksFlag, "stacks", stacksFlag, "comma-separated stacks to run")
	flag.StringVar(&runtimesFlag, "runtimes", runtimesFlag,
		"comma-separated runtimes, in the order each round runs them: embedded and docker (comp --runtime …), compose (Docker Compose)")
	flag.BoolVar(&o.json, "json", false, "print the raw samples and the summaries as JSON instead of the table")
	flag.BoolVar(&o.installCompose, "install-compose", false, "when Docker Compose is not found, build Docker Compose v5 (bench/install-compose.sh), else apt-get install -y docker-compose")
	flag.StringVar(&o.comp, "comp", "", "a comp binary to measure instead of building ./cmd/comp")
	flag.StringVar(&o.stateRoot, "comp-root", "",
		"the embedded runtime's state folder (COMP_ROOT); default: a new folder under /var/tmp, removed at the end")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "the longest one command may take: past it, it is stopped and counts as failed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\n"+
			"Times comp (embedded and docker runtimes) and Docker Compose on the same stacks; see bench/README.md.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	o.stacks = splitList(stacksFlag)
	o.runtimes = splitList(runtimesFlag)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A second Ctrl-C, during the clean-up, ends the harness at once.
	context.AfterFunc(ctx, stop)

	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		if o.json {
			err = errors.Join(err, rep.writeJSON(os.Stdout))
		} else {
			err = errors.Join(err, rep.writeTable(os.Stdout))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var list []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

// bench is one run of the benchmark.
type bench struct {
	opts    options
	log     io.Writer
	binary  string
	runID   string
	tmp     string
	env     []string // REGISTRY for every command
	rep     *report
	started map[string]*target // by project name
	// active are the contenders that can run here, in the order each round runs them.
	active []contender
	// ownedState is the embedded runtime's state folder when the run made it.
	ownedState string
	// layout is the embedded runtime's state (COMP_ROOT) of the run.
	layout state.Layout
}

// target is one stack run by one contender, under a project name of its own.
type target struct {
	name      string
	dir       string
	contender contender
	// dirty says that the project may hold containers or volumes: it is torn down at the end.
	dirty bool
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

// run measures what o selects and returns the report, also when it stops half-way (with the
// error). Everything it creates is removed before it returns.
func run(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	if o.rounds < 1 {
		return nil, fmt.Errorf("--rounds %d: at least 1", o.rounds)
	}
	var selected []stack
	for _, name := range o.stacks {
		st, ok := findStack(name)
		if !ok {
			return nil, fmt.Errorf("--stacks: unknown stack %q (known: %s)", name, strings.Join(stackNames(), ", "))
		}
		selected = append(selected, st)
	}
	for _, name := range o.runtimes {
		if !slices.Contains(contenderNames, name) {
			return nil, fmt.Errorf("--runtimes: unknown runtime %q (known: %s)", name, strings.Join(contenderNames, ", "))
		}
	}
	for flag, list := range map[string][]string{"--stacks": o.stacks, "--runtimes": o.runtimes} {
		for i, name := range list {
			if slices.Contains(list[:i], name) {
				return nil, fmt.Errorf("%s: %s is named twice", flag, name)
			}
		}
	}
	if len(selected) == 0 || len(o.runtimes) == 0 {
		return nil, errors.New("nothing to run: --stacks and --runtimes must name at least one each")
	}

	b := &bench{opts: o, log: log, runID: fmt.Sprintf("%04x", rand.Uint32()&0xffff), started: map[string]*target{}}
	b.tmp, err = os.MkdirTemp("", "comp-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)

	if o.comp != "" {
		b.binary = o.comp
	} else {
		b.logf("building comp (static, as README says)…")
		b.binary = filepath.Join(b.tmp, "comp")
		if err := buildComp(ctx, b.binary); err != nil {
			return nil, err
		}
	}
	// The supervisor is found by its executable, which /proc shows resolved.
	if b.binary, err = filepath.Abs(b.binary); err == nil {
		b.binary, err = filepath.EvalSymlinks(b.binary)
	}
	if err != nil {
		return nil, fmt.Errorf("comp binary: %w", err)
	}

	reg, err := startRegistry()
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	b.env = []string{"REGISTRY=" + reg.Addr()}
	b.logf("test registry on %s, busybox pushed", reg.Addr())

	b.rep = &report{Started: time.Now().UTC(), Rounds: o.rounds, Machine: machineInfo()}
	defer func() {
		err = errors.Join(err, b.cleanup(context.WithoutCancel(ctx), reg.Addr()))
	}()
	contenders, err := b.contenders(ctx)
	if err != nil {
		return b.rep, err
	}
	if len(contenders) == 0 {
		return b.rep, errors.New("no runtime can run here")
	}

	for _, st := range selected {
		b.rep.Stacks = append(b.rep.Stacks, stackInfo{Name: st.name, What: st.what, Operations: opNames(st.ops)})
		dir := filepath.Join(b.tmp, st.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(st.compose), 0o644); err != nil {
			return nil, err
		}
		for _, c := range contenders {
			name := b.projectName(st, c)
			b.started[name] = &target{name: name, dir: dir, contender: c}
		}
	}
	b.pull(ctx, selected[0], contenders)
	if ctx.Err() != nil {
		return b.rep, errors.New("interrupted before the first round")
	}

	for _, st := range selected {
		for round := 1; round <= o.rounds; round++ {
			for _, c := range contenders {
				b.round(ctx, st, c, round)
				if ctx.Err() != nil {
					b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("interrupted in round %d of %s", round, st.name))
					b.rep.summarize()
					return b.rep, errors.New("interrupted: the table holds the rounds run so far")
				}
			}
		}
	}
	b.rep.summarize()
	return b.rep, nil
}

// contenders finds the runtimes o asks for; those that cannot run are reported as skipped.
func (b *bench) contenders(ctx context.Context) ([]contender, error) {
	for _, name := range b.opts.runtimes {
		var c contender
		var err error
		switch name {
		case embedded:
			var env []string
			env, err = b.stateEnv()
			if err == nil {
				c, err = compContender(ctx, b.binary, embedded, env)
			}
		case docker:
			c, err = compContender(ctx, b.binary, docker, nil)
		case compose:
			c, err = composeContender(ctx, b.opts.installCompose, b.logf)
			if err != nil && !b.opts.installCompose {
				err = fmt.Errorf("%w; --install-compose builds Docker Compose v5", err)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			b.logf("%s: skipped: %v", name, err)
			b.rep.Skipped = append(b.rep.Skipped, skipped{Name: name, Reason: err.Error()})
			continue
		}
		b.logf("%s: %s (%s)", name, c.display(), c.version)
		b.rep.Contenders = append(b.rep.Contenders, contenderInfo{Name: c.name, Command: c.display(), Version: c.version})
		b.active = append(b.active, c)
	}
	return b.active, nil
}

// stateEnv is the embedded runtime's environment: COMP_ROOT, the --comp-root folder or a new
// one under /var/tmp (on disk, as Docker's /var/lib/docker is, where /tmp may be in memory).
func (b *bench) stateEnv() ([]string, error) {
	root := b.opts.stateRoot
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("/var/tmp", "comp-bench-state-"); err != nil {
			return nil, err
		}
		b.ownedState = root
	}
	b.layout = state.LayoutAt(root)
	return []string{"COMP_ROOT=" + root}, nil
}
