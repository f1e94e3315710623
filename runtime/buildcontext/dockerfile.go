// Package buildcontext holds what a build context is made of, read the same way for every
// runtime's builder: the Dockerfile of a runtime.BuildSpec, parsed once with BuildKit's parser,
// and the .dockerignore rules that decide which of the context's files a build sees.
package buildcontext

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
)

// InlineName is how messages name a Dockerfile given inline, after the compose key that holds
// it.
const InlineName = "dockerfile_inline"

// Dockerfile is a build's Dockerfile, read and parsed.
type Dockerfile struct {
	// Name is the Dockerfile as the user knows it: the path given (relative to the context or
	// absolute), "Dockerfile" by default, InlineName when inline.
	Name string
	// Path is the file on the host; "" when inline.
	Path string
	// Text is its content.
	Text []byte
	// Parsed is BuildKit's parse of Text: one child of Parsed.AST per instruction, with its
	// lines and its original text.
	Parsed *parser.Result
}

// dockerfilePath returns the Dockerfile of spec as the user knows it and its path on the host.
func dockerfilePath(spec runtime.BuildSpec) (name, path string) {
	name = spec.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	path = name
	if !filepath.IsAbs(path) {
		path = filepath.Join(spec.Context, path)
	}
	return name, path
}

// ReadDockerfile reads spec's Dockerfile (spec.DockerfileInline, else spec.Dockerfile relative to
// spec.Context) and parses it. A missing file or one that does not parse is
// runtime.ErrInvalidArgument; a parse error is a *LineError naming the file and line.
func ReadDockerfile(spec runtime.BuildSpec) (*Dockerfile, error) {
	if spec.DockerfileInline != "" {
		return ParseDockerfile(InlineName, []byte(spec.DockerfileInline))
	}
	name, path := dockerfilePath(spec)
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s not found in build context %s", name, spec.Context))
	}
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile %s: %w", name, err)
	}
	df, err := ParseDockerfile(name, text)
	if err != nil {
		return nil, err
	}
	df.Path = path
	return df, nil
}

// ParseDockerfile parses text, the Dockerfile that messages call name. An error is
// runtime.ErrInvalidArgument and names the file, and the line where the parser gives one.
func ParseDockerfile(name string, text []byte) (*Dockerfile, error) {
	df := &Dockerfile{Name: name, Text: text}
	res, err := parser.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, df.Locate(err))
	}
	df.Parsed = res
	return df, nil
}

// Instruction finds the instruction that the Engine's classic builder announces as step n
// ("Step n/m : text"; it counts every instruction of the file, from 1): the nth when its text is
// text, else the first whose text is; nil when none is. Runs of white space do not count, so
// that continuation lines compare as the builder prints them.
func (df *Dockerfile) Instruction(n int, text string) *parser.Node {
	text = squash(text)
	nodes := df.Parsed.AST.Children
	if n >= 1 && n <= len(nodes) && squash(nodes[n-1].Original) == text {
		return nodes[n-1]
	}
	for _, node := range nodes {
		if squash(node.Original) == text {
			return node
		}
	}
	return nil
}

// squash makes every run of white space in s one space, and trims it.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// Locate names the file in err, and the line when err carries one (a parser.LocationError, as
// BuildKit's parser and instructions.Parse return), unless err names a line already.
func (df *Dockerfile) Locate(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		return df.At(le.Locations[0], le.Unwrap())
	}
	return df.At(nil, err)
}

// At names the file and the first line of loc in err ("Dockerfile:7: …"), unless err names a
// line already; a nil err stays nil.
func (df *Dockerfile) At(loc []parser.Range, err error) error {
	var le *LineError
	if err == nil || errors.As(err, &le) {
		return err
	}
	line := 0
	if len(loc) > 0 {
		line = loc[0].Start.Line
	}
	return &LineError{File: df.Name, Line: line, Err: err}
}

// LineError is an error of one place in a Dockerfile.
type LineError struct {
	File string
	// Line counts from 1; 0 when the place is not known.
	Line int
	Err  error
}

// Error says "File:Line: Err", or "File: Err" without a line.
func (e *LineError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err)
}

// Unwrap returns the error without its place.
func (e *LineError) Unwrap() error { return e.Err }
