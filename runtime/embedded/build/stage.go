package build

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/image"
)

// runStage builds stage i from its base and runs its instructions.
func (bd *build) runStage(ctx context.Context, i int) (*state, error) {
	stage := bd.df.stages[i]
	label := bd.step(stage.SourceCode)
	st, err := bd.from(ctx, i, label)
	if err != nil {
		return nil, err
	}
	st.noCache = bd.noCache(i)
	// ONBUILD triggers of the base image run first, then are dropped, as Docker does.
	triggers := st.config.OnBuild
	st.config.OnBuild = nil
	for _, trigger := range triggers {
		cmd, err := parseTrigger(trigger)
		if err != nil {
			return nil, bd.df.invalid(stage.Location, "ONBUILD %s of base %s: %v", trigger, bd.bases[i], err)
		}
		if err := bd.dispatch(ctx, st, cmd, label+" ONBUILD "+trigger, stage.Location); err != nil {
			return nil, err
		}
	}
	for _, cmd := range stage.Commands {
		if err := bd.dispatch(ctx, st, cmd, bd.step(fmt.Sprint(cmd)), cmd.Location()); err != nil {
			// Keep what the stage made until the failure, so that fixing the failing step
			// does not run the steps before it again.
			bd.commitPartial(ctx, st)
			return nil, err
		}
	}
	bd.stages[i] = st
	return st, nil
}

// from starts the state of stage i: an earlier stage, scratch, or an image of the store
// (pulled when missing, or always with spec.Pull).
func (bd *build) from(ctx context.Context, i int, label string) (*state, error) {
	stage := bd.df.stages[i]
	base := bd.bases[i]
	if p := stage.Platform; p != "" {
		platform, _, err := bd.df.lex.ProcessWord(p, bd.global)
		if err != nil {
			return nil, bd.df.invalid(stage.Location, "FROM --platform=%s: %v", p, err)
		}
		if platform != "linux/"+goruntime.GOARCH && platform != "linux" {
			return nil, bd.df.unsupported(stage.Location, "FROM --platform=%s: the embedded builder builds for linux/%s only", platform, goruntime.GOARCH)
		}
	}
	bd.progress(runtime.BuildProgress{Step: label})
	if j := bd.df.stageRef(base, false); j >= 0 && j != i {
		src, ok := bd.stages[j]
		if !ok {
			return nil, bd.df.invalid(stage.Location, "FROM %s: stage not built", base)
		}
		return src.clone(), nil
	}
	if base == "scratch" {
		return &state{config: v1.Config{Env: []string{"PATH=" + defaultPath}}, args: &vars{}}, nil
	}
	if nc, ok := bd.opts.contexts[base]; ok {
		if nc.dir != nil {
			// A folder as a base, as BuildKit takes one: its files are the root, with no
			// image config.
			st := &state{config: v1.Config{Env: []string{"PATH=" + defaultPath}}, args: &vars{}}
			op := copyOp{name: "FROM", text: "FROM " + base, srcs: []string{"."}, dest: "/", srcCtx: nc.dir}
			if err := bd.copyFiles(ctx, st, op, label, stage.Location); err != nil {
				return nil, err
			}
			return st, nil
		}
		base = nc.image
	}
	img, err := bd.image(ctx, base, label)
	if err != nil {
		return nil, bd.df.At(stage.Location, fmt.Errorf("FROM %s: %w", base, err))
	}
	st := &state{config: cloneConfig(img.Config), created: img.Created, args: &vars{}}
	if !hasEnv(st.config.Env, "PATH") {
		st.config.Env = append([]string{"PATH=" + defaultPath}, st.config.Env...)
	}
	for k := range img.Layers {
		st.layers = append(st.layers, layer{diffID: img.DiffIDs[k], dir: img.Layers[k]})
	}
	return st, nil
}

// image finds ref in the store, pulling it when missing or when the build says Pull (once per
// build). A pull is reported under label.
func (bd *build) image(ctx context.Context, ref, label string) (image.Image, error) {
	if img, ok := bd.pulled[ref]; ok {
		return img, nil
	}
	if !bd.spec.Pull {
		img, err := bd.Images.Get(ref)
		if err == nil || !errors.Is(err, runtime.ErrNotFound) {
			return img, err
		}
	}
	bd.progress(runtime.BuildProgress{Step: label, Text: "pulling " + ref})
	img, err := bd.Images.Pull(ctx, ref, nil)
	if err != nil {
		return image.Image{}, err
	}
	bd.pulled[ref] = img
	return img, nil
}

// parseTrigger parses an ONBUILD trigger as an instruction.
func parseTrigger(trigger string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(trigger))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("not one instruction")
	}
	return instructions.ParseCommand(res.AST.Children[0])
}

// dispatch runs one instruction on st. loc places its errors.
func (bd *build) dispatch(ctx context.Context, st *state, cmd instructions.Command, label string, loc []parser.Range) error {
	// Words are expanded with the ENV and ARGs in scope; an ARG's own value is expanded when
	// it is declared.
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		env := st.env()
		expand := func(word string) (string, error) {
			w, _, err := bd.df.lex.ProcessWord(word, env)
			return w, err
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(expand); err != nil {
				return bd.df.invalid(loc, "%s: %v", cmd.Name(), err)
			}
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
			if err := ex.ExpandRaw(expand); err != nil {
				return bd.df.invalid(loc, "%s: %v", cmd.Name(), err)
			}
		}
	}

	var err error
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		return bd.runStep(ctx, st, c, label, loc)
	case *instructions.CopyCommand:
		return bd.copyStep(ctx, st, c, label, loc)
	case *instructions.AddCommand:
		return bd.addStep(ctx, st, c, label, loc)
	case *instructions.WorkdirCommand:
		return bd.workdirStep(ctx, st, c, label, loc)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			st.setEnv(kv.Key, kv.Value)
		}
	case *instructions.ArgCommand:
		err = bd.arg(st, c)
	case *instructions.LabelCommand:
		if st.config.Labels == nil {
			st.config.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			st.config.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		st.author = c.Maintainer
	case *instructions.UserCommand:
		st.config.User = c.User
	case *instructions.ExposeCommand:
		err = expose(st, c.Ports)
	case *instructions.VolumeCommand:
		if st.config.Volumes == nil {
			st.config.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			st.config.Volumes[v] = struct{}{}
		}
	case *instructions.CmdCommand:
		st.config.Cmd = bd.commandLine(st, c.ShellDependantCmdLine)
		st.cmdSet = true
	case *instructions.EntrypointCommand:
		st.config.Entrypoint = bd.commandLine(st, c.ShellDependantCmdLine)
		if !st.cmdSet {
			st.config.Cmd = nil // a CMD inherited from the base does not suit a new entrypoint
		}
	case *instructions.HealthCheckCommand:
		h := c.Health
		st.config.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.StopSignalCommand:
		if err = checkSignal(c.Signal); err == nil {
			st.config.StopSignal = c.Signal
		}
	case *instructions.ShellCommand:
		st.config.Shell = c.Shell
	case *instructions.OnbuildCommand:
		st.config.OnBuild = append(st.config.OnBuild, strings.TrimSpace(c.Expression))
	default:
		return bd.df.unsupported(loc, "%s is not supported", strings.ToUpper(cmd.Name()))
	}
	if err != nil {
		return bd.df.invalid(loc, "%s: %v", strings.ToUpper(cmd.Name()), err)
	}
	bd.progress(runtime.BuildProgress{Step: label})
	return nil
}

// arg declares ARGs in the stage: a build arg gives the value, else the default (expanded),
// else the global ARG of that name.
func (bd *build) arg(st *state, c *instructions.ArgCommand) error {
	for _, kv := range c.Args {
		if v, ok := bd.buildArgs[kv.Key]; ok {
			st.args.set(kv.Key, v)
			continue
		}
		if kv.Value != nil {
			v, _, err := bd.df.lex.ProcessWord(*kv.Value, st.env())
			if err != nil {
				return fmt.Errorf("%s: %w", kv.Key, err)
			}
			st.args.set(kv.Key, v)
			continue
		}
		if v, ok := bd.global.Get(kv.Key); ok {
			st.args.set(kv.Key, v)
		}
	}
	return nil
}

// commandLine is the exec form of CMD or ENTRYPOINT (the shell form goes through SHELL).
func (bd *build) commandLine(st *state, c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell && len(c.CmdLine) > 0 {
		return st.shell(strings.Join(c.CmdLine, " "))
	}
	return c.CmdLine
}

// expose adds ports ("80", "53/udp", "8000-8010") to the image's exposed ports.
func expose(st *state, ports []string) error {
	if st.config.ExposedPorts == nil {
		st.config.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		spec, proto, _ := strings.Cut(p, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return fmt.Errorf("invalid protocol %q in %s", proto, p)
		}
		lo, hi, isRange := strings.Cut(spec, "-")
		first, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid port %q", p)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseUint(hi, 10, 16); err != nil || last < first {
				return fmt.Errorf("invalid port range %q", p)
			}
		}
		for n := first; n <= last; n++ {
			st.config.ExposedPorts[fmt.Sprintf("%d/%s", n, proto)] = struct{}{}
		}
	}
	return nil
}

// checkSignal accepts a signal name ("SIGTERM", "TERM") or number.
func checkSignal(sig string) error {
	if _, err := strconv.Atoi(sig); err == nil {
		return nil
	}
	if sig == "" || strings.ContainsAny(sig, " \t") {
		return fmt.Errorf("invalid signal %q", sig)
	}
	return nil
}

// record notes a cacheable step st ran or found, for the cache index.
func (st *state) record(key string, l *layer, created time.Time) {
	r := stepRecord{key: key, layers: len(st.layers), created: created}
	if l != nil {
		r.diffID = l.diffID
	}
	st.steps = append(st.steps, r)
}
