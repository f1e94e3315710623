package buildcontext

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
)

// writeFiles makes a folder holding files (path: content).
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, fsys); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadDockerfile(t *testing.T) {
	outside := writeFiles(t, map[string]string{"app.Dockerfile": "FROM outside\n"})
	dir := writeFiles(t, map[string]string{
		"Dockerfile":           "FROM default\n",
		"build/dev.Dockerfile": "FROM dev\n",
		"empty.Dockerfile":     "# only a comment\n",
		"heredoc.Dockerfile":   "FROM base\n\nRUN <<EOF\necho never ends\n",
	})
	for _, tc := range []struct {
		name     string
		spec     runtime.BuildSpec
		wantName string
		wantPath string
		wantFrom string // the first instruction's text
	}{
		{"reads Dockerfile of the context by default", runtime.BuildSpec{Context: dir},
			"Dockerfile", filepath.Join(dir, "Dockerfile"), "FROM default"},
		{"reads a path relative to the context", runtime.BuildSpec{Context: dir, Dockerfile: "build/dev.Dockerfile"},
			"build/dev.Dockerfile", filepath.Join(dir, "build/dev.Dockerfile"), "FROM dev"},
		{"reads an absolute path outside the context", runtime.BuildSpec{Context: dir, Dockerfile: filepath.Join(outside, "app.Dockerfile")},
			filepath.Join(outside, "app.Dockerfile"), filepath.Join(outside, "app.Dockerfile"), "FROM outside"},
		{"takes an inline Dockerfile over the file", runtime.BuildSpec{Context: dir, DockerfileInline: "FROM inline\n"},
			InlineName, "", "FROM inline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			df, err := ReadDockerfile(tc.spec)
			if err != nil {
				t.Fatalf("ReadDockerfile() error = %v", err)
			}
			if df.Name != tc.wantName || df.Path != tc.wantPath {
				t.Errorf("ReadDockerfile() = %q at %q, want %q at %q", df.Name, df.Path, tc.wantName, tc.wantPath)
			}
			if got := df.Parsed.AST.Children[0].Original; got != tc.wantFrom {
				t.Errorf("first instruction = %q, want %q", got, tc.wantFrom)
			}
		})
	}

	for _, tc := range []struct {
		name     string
		spec     runtime.BuildSpec
		wantErr  string
		wantLine int
	}{
		{"a missing Dockerfile names it and the context", runtime.BuildSpec{Context: dir, Dockerfile: "app.Dockerfile"},
			"app.Dockerfile not found in build context " + dir, 0},
		{"a Dockerfile without instructions names the file", runtime.BuildSpec{Context: dir, Dockerfile: "empty.Dockerfile"},
			"empty.Dockerfile:1: file with no instructions", 1},
		{"a parse error names the file and line", runtime.BuildSpec{Context: dir, Dockerfile: "heredoc.Dockerfile"},
			"heredoc.Dockerfile:3: unterminated heredoc", 3},
		{"an inline parse error names dockerfile_inline", runtime.BuildSpec{Context: dir, DockerfileInline: "FROM base\nRUN <<EOF\n"},
			"dockerfile_inline:2: unterminated heredoc", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			df, err := ReadDockerfile(tc.spec)
			if df != nil || !errors.Is(err, runtime.ErrInvalidArgument) || err.Error() != tc.wantErr {
				t.Fatalf("ReadDockerfile() = %v, %v; want ErrInvalidArgument %q", df, err, tc.wantErr)
			}
			var le *LineError
			if tc.wantLine > 0 && (!errors.As(err, &le) || le.Line != tc.wantLine) {
				t.Errorf("error %#v: want a LineError of line %d", err, tc.wantLine)
			}
		})
	}
}

func TestInstructionFindsTheLineOfABuildStep(t *testing.T) {
	df, err := ParseDockerfile("Dockerfile", []byte("# escape=`\n"+`ARG BASE=busybox

FROM $BASE AS build
# a comment between instructions
RUN echo one `+"`"+`
    # a comment inside the instruction

    &&  echo   two
COPY . /src
FROM $BASE
COPY . /src
run echo one&&echo two
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		step int
		text string
		want int
	}{
		{"the first instruction, after a parser directive", 1, "ARG BASE=busybox", 2},
		{"an instruction on continuation lines", 3, "RUN echo one     &&  echo   two", 6},
		{"the step number tells instructions of the same text apart", 6, "COPY . /src", 12},
		{"a step number that does not fit falls back to the first of the text", 9, "COPY . /src", 10},
		{"an instruction written in lower case", 7, "run echo one&&echo two", 13},
		{"an unknown instruction", 2, "RUN nothing", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := 0
			if node := df.Instruction(tc.step, tc.text); node != nil {
				got = node.StartLine
			}
			if got != tc.want {
				t.Errorf("Instruction(%d, %q) is at line %d, want %d", tc.step, tc.text, got, tc.want)
			}
		})
	}
}

func TestErrorsNameTheFileAndLineOnce(t *testing.T) {
	df := &Dockerfile{Name: "build/app.Dockerfile"}
	failed := errors.New("it failed")
	line3 := []parser.Range{{Start: parser.Position{Line: 3}, End: parser.Position{Line: 4}}}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a place without a line names the file", df.At(nil, failed), "build/app.Dockerfile: it failed"},
		{"a place names the first line", df.At(line3, failed), "build/app.Dockerfile:3: it failed"},
		{"an error naming a line already keeps it", df.At(line3, df.At([]parser.Range{{Start: parser.Position{Line: 7}}}, failed)),
			"build/app.Dockerfile:7: it failed"},
		{"a parser location gives the line", df.Locate(parser.WithLocation(failed, line3)), "build/app.Dockerfile:3: it failed"},
		{"an error without a location names the file", df.Locate(failed), "build/app.Dockerfile: it failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Error() != tc.want || !errors.Is(tc.err, failed) {
				t.Errorf("error = %q, want %q wrapping the cause", tc.err, tc.want)
			}
			if strings.Count(tc.err.Error(), "build/app.Dockerfile") != 1 {
				t.Errorf("error %q names the file more than once", tc.err)
			}
		})
	}
	if df.At(line3, nil) != nil {
		t.Error("At(loc, nil) is not nil")
	}
}
