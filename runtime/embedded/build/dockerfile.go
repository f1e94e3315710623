package build

import (
	"fmt"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// dockerfile is a parsed Dockerfile: its source (whose Name and At place its errors) and its
// instructions.
type dockerfile struct {
	*buildcontext.Dockerfile
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	lex      *shell.Lex
}

// readDockerfile reads the Dockerfile of spec and makes instructions of it.
func readDockerfile(spec runtime.BuildSpec) (*dockerfile, error) {
	src, err := buildcontext.ReadDockerfile(spec)
	if err != nil {
		return nil, err
	}
	df := &dockerfile{Dockerfile: src, lex: shell.NewLex(src.Parsed.EscapeToken)}
	parents, err := takeParentsFlags(src.Parsed.AST)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, df.Locate(err))
	}
	if df.stages, df.metaArgs, err = instructions.Parse(src.Parsed.AST, nil); err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, df.Locate(err))
	}
	for _, st := range df.stages {
		for _, c := range st.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && len(cp.Location()) > 0 && parents[cp.Location()[0].Start.Line] {
				cp.Parents = true
			}
		}
	}
	if len(df.stages) == 0 {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s: no FROM instruction", df.Name))
	}
	return df, nil
}

// takeParentsFlags removes COPY --parents from the parsed instructions and returns the lines
// of the COPYs that had it: BuildKit's instruction parser knows the flag only when built with
// its dfparents tag, and the builder honours it itself.
func takeParentsFlags(ast *parser.Node) (map[int]bool, error) {
	lines := map[int]bool{}
	for _, node := range ast.Children {
		if !strings.EqualFold(node.Value, "copy") {
			continue
		}
		kept := node.Flags[:0:0]
		for _, f := range node.Flags {
			name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			if name != "parents" {
				kept = append(kept, f)
				continue
			}
			on := true
			if hasValue {
				var err error
				if on, err = strconv.ParseBool(value); err != nil {
					return nil, parser.WithLocation(fmt.Errorf("COPY --parents=%s: want true or false", value), node.Location())
				}
			}
			lines[node.StartLine] = on
		}
		node.Flags = kept
	}
	return lines, nil
}

// unsupported is the error of what the builder cannot do, at loc.
func (df *dockerfile) unsupported(loc []parser.Range, format string, args ...any) error {
	return runtime.Classify(runtime.ErrNotImplemented, df.At(loc, fmt.Errorf(format, args...)))
}

// invalid is the error of a mistake in the Dockerfile, at loc.
func (df *dockerfile) invalid(loc []parser.Range, format string, args ...any) error {
	return runtime.Classify(runtime.ErrInvalidArgument, df.At(loc, fmt.Errorf(format, args...)))
}

// platformArgs are the automatic platform ARGs that BuildKit defines in the global scope.
func platformArgs() map[string]string {
	platform := "linux/" + goruntime.GOARCH
	return map[string]string{
		"TARGETPLATFORM": platform, "TARGETOS": "linux", "TARGETARCH": goruntime.GOARCH, "TARGETVARIANT": "",
		"BUILDPLATFORM": platform, "BUILDOS": "linux", "BUILDARCH": goruntime.GOARCH, "BUILDVARIANT": "",
	}
}

// proxyArgs may be given as build args without an ARG instruction; RUN sees them, the cache
// key does not.
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// globalArgs evaluates the ARGs before the first FROM: build args override their defaults.
func (df *dockerfile) globalArgs(buildArgs map[string]string) (*vars, error) {
	g := &vars{}
	for k, v := range platformArgs() {
		g.set(k, v)
	}
	for _, cmd := range df.metaArgs {
		for _, kv := range cmd.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				g.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := df.lex.ProcessWord(*kv.Value, g)
			if err != nil {
				return nil, df.invalid(cmd.Location(), "ARG %s: %v", kv.Key, err)
			}
			g.set(kv.Key, v)
		}
	}
	return g, nil
}

// vars is an ordered set of variables, for expansion (shell.EnvGetter) and for environments.
type vars struct {
	keys   []string
	values map[string]string
}

func (v *vars) set(key, value string) {
	if v.values == nil {
		v.values = map[string]string{}
	}
	if _, ok := v.values[key]; !ok {
		v.keys = append(v.keys, key)
	}
	v.values[key] = value
}

// Get implements shell.EnvGetter.
func (v *vars) Get(key string) (string, bool) {
	val, ok := v.values[key]
	return val, ok
}

// Keys implements shell.EnvGetter.
func (v *vars) Keys() []string { return v.keys }

func (v *vars) clone() *vars {
	out := &vars{}
	for _, k := range v.keys {
		out.set(k, v.values[k])
	}
	return out
}

// stageRef finds the stage named (case-insensitively) or numbered ref, or returns -1.
func (df *dockerfile) stageRef(ref string, numbers bool) int {
	if numbers {
		if i, err := strconv.Atoi(ref); err == nil {
			if i >= 0 && i < len(df.stages) {
				return i
			}
			return -1
		}
	}
	if i, ok := instructions.HasStage(df.stages, ref); ok {
		return i
	}
	return -1
}

// plan lists the stages to build for target, each after the stages it needs (FROM stage,
// COPY --from=stage), and counts their steps.
func (df *dockerfile) plan(target int, global *vars) (order []int, bases []string, steps int, err error) {
	bases = make([]string, len(df.stages))
	for i, st := range df.stages {
		res, err := df.lex.ProcessWordWithMatches(st.BaseName, global)
		if err != nil {
			return nil, nil, 0, df.invalid(st.Location, "FROM %s: %v", st.BaseName, err)
		}
		if res.Result == "" {
			return nil, nil, 0, df.invalid(st.Location, "FROM %s: the base name is empty", st.BaseName)
		}
		bases[i] = res.Result
	}
	const (
		unvisited = iota
		visiting
		done
	)
	marks := make([]int, len(df.stages))
	var visit func(i int) error
	visit = func(i int) error {
		switch marks[i] {
		case done:
			return nil
		case visiting:
			return df.invalid(df.stages[i].Location, "circular dependency detected on stage %q", stageName(df.stages[i], i))
		}
		marks[i] = visiting
		var deps []int
		if j := df.stageRef(bases[i], false); j >= 0 && j != i {
			deps = append(deps, j)
		}
		for _, c := range df.stages[i].Commands {
			var froms []string
			switch c := c.(type) {
			case *instructions.CopyCommand:
				froms = append(froms, c.From)
			case *instructions.RunCommand:
				// Before expansion, BuildKit's parser reads from= alone (it takes no variable).
				for _, m := range instructions.GetMounts(c) {
					froms = append(froms, m.From)
				}
			}
			for _, from := range froms {
				if from == "" {
					continue
				}
				j := df.stageRef(from, true)
				if j == i {
					return df.invalid(c.Location(), "%s --from=%s: a stage cannot use itself", strings.ToUpper(c.Name()), from)
				}
				if j >= 0 {
					deps = append(deps, j)
				}
			}
		}
		for _, j := range deps {
			if err := visit(j); err != nil {
				return err
			}
		}
		marks[i] = done
		order = append(order, i)
		steps += 1 + len(df.stages[i].Commands)
		return nil
	}
	if err := visit(target); err != nil {
		return nil, nil, 0, err
	}
	return order, bases, steps, nil
}

// target finds the stage to build: the named one, else the last.
func (df *dockerfile) target(name string) (int, error) {
	if name == "" {
		return len(df.stages) - 1, nil
	}
	if i, ok := instructions.HasStage(df.stages, name); ok {
		return i, nil
	}
	return -1, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s: target stage %q could not be found", df.Name, name))
}

func stageName(st instructions.Stage, i int) string {
	if st.Name != "" {
		return st.Name
	}
	return strconv.Itoa(i)
}

// firstLine is the first line of an instruction's text, for progress.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
