package buildcontext

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/comp-dev/comp/runtime"
)

// Ignore is the .dockerignore rule set of a build: which paths of the context the build does
// not see. A nil *Ignore, like one read from no file, excludes nothing. It is not safe for
// concurrent use: the matcher compiles each pattern at its first use.
type Ignore struct {
	// File is the file the rules come from, under the context folder as given or beside the
	// Dockerfile; "" when there is none.
	File string
	// PerDockerfile reports that File is <Dockerfile>.dockerignore, not the context's
	// .dockerignore.
	PerDockerfile bool
	// Text is File's content.
	Text []byte

	matcher *patternmatcher.PatternMatcher // nil when File has no pattern
	kept    []string                       // paths no rule excludes (Keeping)
}

// ReadIgnore reads the rules of spec's build as BuildKit chooses them: <Dockerfile>.dockerignore
// beside the Dockerfile when there is one (and the Dockerfile is not inline), else .dockerignore
// at the context's root, else none. A file that cannot be read or holds a bad pattern is an
// error naming it, runtime.ErrInvalidArgument for a bad pattern.
func ReadIgnore(spec runtime.BuildSpec) (*Ignore, error) {
	var candidates []string
	if spec.DockerfileInline == "" {
		_, df := dockerfilePath(spec)
		candidates = append(candidates, df+".dockerignore")
	}
	candidates = append(candidates, filepath.Join(spec.Context, ".dockerignore"))
	for i, file := range candidates {
		text, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		ig, err := ParseIgnore(file, text)
		if err != nil {
			return nil, err
		}
		ig.PerDockerfile = i < len(candidates)-1
		return ig, nil
	}
	return &Ignore{}, nil
}

// ParseIgnore reads the rules of text, the ignore file file. A bad pattern is
// runtime.ErrInvalidArgument naming file.
func ParseIgnore(file string, text []byte) (*Ignore, error) {
	ig := &Ignore{File: file, Text: text}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(text))
	if err == nil {
		err = checkPatterns(patterns)
	}
	if err == nil && len(patterns) > 0 {
		ig.matcher, err = patternmatcher.New(patterns)
	}
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("read %s: %w", file, err))
	}
	return ig, nil
}

// checkPatterns compiles each pattern on its own, which the matcher does only when it first
// compares a path with it: a bad pattern is an error of the file now, not of some path later.
func checkPatterns(patterns []string) error {
	for _, p := range patterns {
		pm, err := patternmatcher.New([]string{strings.TrimPrefix(p, "!")})
		if err == nil {
			_, err = pm.MatchesOrParentMatches(".")
		}
		if err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// Keeping returns the rules with paths (slash-separated, relative to the context) kept whatever
// the rules say: the Engine's classic builder must receive the Dockerfile and .dockerignore.
func (ig *Ignore) Keeping(paths ...string) *Ignore {
	out := &Ignore{}
	if ig != nil {
		*out = *ig
	}
	out.kept = append(slices.Clip(out.kept), paths...)
	return out
}

// Excludes reports whether the rules exclude rel (slash-separated, relative to the context's
// root), itself or by one of its parent folders. The root is never excluded.
func (ig *Ignore) Excludes(rel string) bool {
	if ig == nil || ig.matcher == nil || rel == "." || rel == "" || slices.Contains(ig.kept, rel) {
		return false
	}
	// checkPatterns made every pattern compile: matching cannot fail.
	excluded, _ := ig.matcher.MatchesOrParentMatches(rel)
	return excluded
}

// Descend reports whether a walk must look inside dir, a folder the rules exclude, because an
// exception ("!dir/keep.txt", "!**/*.go") or a kept path may bring back something in it.
// Without one, everything in dir is excluded too.
func (ig *Ignore) Descend(dir string) bool {
	if ig == nil {
		return false
	}
	for _, k := range ig.kept {
		if strings.HasPrefix(k, dir+"/") {
			return true
		}
	}
	if ig.matcher == nil || !ig.matcher.Exclusions() {
		return false
	}
	for _, p := range ig.matcher.Patterns() {
		if p.Exclusion() && mayMatchInside(p.String(), dir) {
			return true
		}
	}
	return false
}

// mayMatchInside reports whether pattern may match dir or a path inside it: each of its
// segments, as far as dir has some, matches dir's, until one holds "**" (which crosses
// folders). It errs towards yes, for a segment path.Match cannot read.
func mayMatchInside(pattern, dir string) bool {
	segments := strings.Split(pattern, "/")
	for i, d := range strings.Split(dir, "/") {
		if i >= len(segments) {
			// The pattern names a parent of dir: were it an exception that applies, dir
			// would not be excluded.
			return false
		}
		if strings.Contains(segments[i], "**") {
			return true
		}
		if ok, err := path.Match(segments[i], d); err != nil || !ok {
			return err != nil
		}
	}
	return true
}
