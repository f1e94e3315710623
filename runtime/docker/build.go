package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/comp-dev/comp/runtime"
)

// BuildImage builds spec with the engine's classic builder, tags the result with every one of
// spec.Tags and returns the image ID. The context folder is sent without the files its
// .dockerignore excludes (the Dockerfile and .dockerignore are always sent). A failing
// instruction gives runtime.ErrInvalidArgument naming the Dockerfile's line; a URL context gives
// runtime.ErrNotImplemented.
func (r *Runtime) BuildImage(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error) {
	name := spec.Context
	if len(spec.Tags) > 0 {
		name = spec.Tags[0]
	}
	id, err := r.buildImage(ctx, spec, progress)
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", name, err)
	}
	return id, nil
}

// errBuildEnded stops the context's upload once the engine has answered.
var errBuildEnded = errors.New("build ended")

func (r *Runtime) buildImage(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error) {
	bc, err := newBuildContext(spec)
	if err != nil {
		return "", err
	}

	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := bc.write(pw)
		_ = pw.CloseWithError(err)
		sent <- err
	}()
	resp, err := r.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Version:     build.BuilderV1,
		Dockerfile:  bc.dockerfile,
		BuildArgs:   buildArgs(spec.Args),
		Target:      spec.Target,
		Labels:      spec.Labels,
		Tags:        spec.Tags,
		NoCache:     spec.NoCache,
		PullParent:  spec.Pull,
		Remove:      true,
		ForceRemove: true,
	})
	var id string
	if err == nil {
		id, err = decodeBuild(resp.Body, bc.source, progress)
		_ = resp.Body.Close()
	} else {
		err = classifyBuild(err)
	}
	_ = pr.CloseWithError(errBuildEnded)
	if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, errBuildEnded) {
		return "", fmt.Errorf("send build context %s: %w", bc.dir, sendErr)
	}
	if err != nil {
		return "", err
	}
	if id == "" && len(spec.Tags) > 0 {
		img, err := r.InspectImage(ctx, spec.Tags[0])
		if err != nil {
			return "", err
		}
		id = img.ID
	}
	if id == "" {
		return "", errors.New("the engine reported no image ID")
	}
	return id, nil
}

// buildArgs resolves the build arguments: a nil value takes the variable from the environment,
// and is left out when the environment does not set it.
func buildArgs(args map[string]*string) map[string]*string {
	out := make(map[string]*string, len(args))
	for k, v := range args {
		if v == nil {
			env, ok := os.LookupEnv(k)
			if !ok {
				continue
			}
			v = &env
		}
		out[k] = v
	}
	return out
}

// classifyBuild classifies an error of a build: a registry that cannot be reached (for a FROM
// image) is runtime.ErrUnavailable, anything else the engine rejects runtime.ErrInvalidArgument.
func classifyBuild(err error) error {
	c := classify(err)
	for _, class := range []error{runtime.ErrUnavailable, runtime.ErrInvalidArgument, runtime.ErrNotImplemented} {
		if errors.Is(c, class) {
			return c
		}
	}
	if errors.Is(c, context.Canceled) || errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	msg := strings.ToLower(err.Error())
	for _, m := range pullUnavailable {
		if strings.Contains(msg, strings.ToLower(m)) {
			return runtime.Classify(runtime.ErrUnavailable, err)
		}
	}
	return runtime.Classify(runtime.ErrInvalidArgument, err)
}

// buildContext is a build's context folder and Dockerfile, ready to be sent as a tar.
type buildContext struct {
	dir string
	// dockerfile is the Dockerfile's name in the tar.
	dockerfile string
	// injected, when not nil, is a Dockerfile from outside the folder (or inline) that is
	// written into the tar as dockerfile, and added to the .dockerignore so that the engine
	// drops it from the context before COPY sees it.
	injected []byte
	// ignore is the folder's .dockerignore (nil when it has none).
	ignore  []byte
	matcher *patternmatcher.PatternMatcher
	source  dockerfileSource
}

// newBuildContext checks spec's context folder and reads its .dockerignore and Dockerfile.
func newBuildContext(spec runtime.BuildSpec) (*buildContext, error) {
	if isURLContext(spec.Context) {
		return nil, runtime.Classify(runtime.ErrNotImplemented,
			fmt.Errorf("build context %s: build from a URL is not supported; clone it and use the folder", spec.Context))
	}
	if spec.Context == "" {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, errors.New("no build context folder"))
	}
	dir, err := filepath.Abs(spec.Context)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build context %s does not exist", spec.Context))
	}
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build context %s: %w", spec.Context, err))
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build context %s is not a folder", spec.Context))
	}
	bc := &buildContext{dir: dir}

	ignore, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	switch {
	case err == nil:
		bc.ignore = ignore
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", filepath.Join(spec.Context, ".dockerignore"), err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(bc.ignore))
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("read %s: %w", filepath.Join(spec.Context, ".dockerignore"), err))
	}

	var text []byte
	switch {
	case spec.DockerfileInline != "":
		text = []byte(spec.DockerfileInline)
		bc.injected = text
		bc.source.name = "dockerfile_inline"
	default:
		name := spec.Dockerfile
		if name == "" {
			name = "Dockerfile"
		}
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		text, err = os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s not found in build context %s", name, spec.Context))
		}
		if err != nil {
			return nil, fmt.Errorf("read Dockerfile %s: %w", name, err)
		}
		bc.source.name = name
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			bc.injected = text // outside the folder: send it along
		} else {
			bc.dockerfile = filepath.ToSlash(rel)
		}
	}
	if bc.injected != nil {
		// A name that depends only on the content keeps the rewritten .dockerignore, and so
		// the build cache, stable from one build to the next.
		sum := sha256.Sum256(bc.injected)
		bc.dockerfile = ".comp-dockerfile-" + hex.EncodeToString(sum[:8])
	} else {
		patterns = append(patterns, "!"+bc.dockerfile, "!.dockerignore")
	}
	if bc.matcher, err = patternmatcher.New(patterns); err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("read %s: %w", filepath.Join(spec.Context, ".dockerignore"), err))
	}
	bc.source.instructions = parseDockerfile(text)
	return bc, nil
}

// isURLContext reports whether context names a git repository or a URL rather than a folder.
func isURLContext(context string) bool {
	for _, prefix := range []string{"http://", "https://", "git://", "git@", "ssh://", "github.com/"} {
		if strings.HasPrefix(context, prefix) {
			return true
		}
	}
	return false
}

// write sends the context as a tar to w: every file the .dockerignore does not exclude, owned by
// root, and the injected Dockerfile with the .dockerignore that drops it.
func (bc *buildContext) write(w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(bc.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(bc.dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if bc.injected != nil && (rel == bc.dockerfile || rel == ".dockerignore") {
			return nil // written below
		}
		skip, err := bc.matcher.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !bc.mayInclude(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		return addToTar(tw, path, rel, d)
	})
	if err != nil {
		return err
	}
	if bc.injected != nil {
		ignore := bc.ignore
		if ignore == nil {
			ignore = []byte(".dockerignore")
		}
		ignore = append(append(bytes.Clone(ignore), '\n'), bc.dockerfile+"\n"...)
		for _, f := range []struct {
			name string
			data []byte
		}{{".dockerignore", ignore}, {bc.dockerfile, bc.injected}} {
			hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(f.data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// mayInclude reports whether an excluded folder may still hold files that an exception
// ("!dir/file") brings back, so that the walk must go into it.
func (bc *buildContext) mayInclude(dir string) bool {
	if !bc.matcher.Exclusions() {
		return false
	}
	for _, p := range bc.matcher.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// addToTar writes one file, folder or symlink to tw; other kinds of files (sockets, devices,
// pipes) are not sent.
func addToTar(tw *tar.Writer, path, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	var link string
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

// stepLine is the classic builder's announcement of an instruction: "Step 2/5 : RUN make".
var stepLine = regexp.MustCompile(`^Step (\d+)/(\d+) : (.*)$`)

// buildStream follows a build's output: the step being run, and the line not yet ended.
type buildStream struct {
	source   dockerfileSource
	progress func(runtime.BuildProgress)
	step     string // "[2/5] RUN make"
	stepNum  int
	stepText string // "RUN make"
	partial  string
	id       string
}

// decodeBuild reads a build's JSON message stream to its end, reporting each line to progress
// (which may be nil), and returns the image ID from it, or the build's error.
func decodeBuild(rd io.Reader, source dockerfileSource, progress func(runtime.BuildProgress)) (string, error) {
	s := &buildStream{source: source, progress: progress}
	dec := json.NewDecoder(rd)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				s.flush()
				return s.id, nil
			}
			return "", classify(err)
		}
		switch {
		case m.Error != nil && m.Error.Message != "":
			s.flush()
			return "", s.fail(m.Error.Message)
		case m.ErrorMessage != "":
			s.flush()
			return "", s.fail(m.ErrorMessage)
		case m.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				s.id = aux.ID
			}
		case m.Stream != "":
			s.write(m.Stream)
		case m.Status != "":
			// Pulls of a FROM image: report their states, not every byte of progress.
			if m.Progress == nil || m.Progress.Current == 0 {
				s.line(strings.TrimPrefix(m.ID+": "+m.Status, ": "))
			}
		}
	}
}

// write takes a chunk of the output, which may hold several lines or part of one.
func (s *buildStream) write(chunk string) {
	s.partial += chunk
	for {
		i := strings.IndexByte(s.partial, '\n')
		if i < 0 {
			return
		}
		line := strings.TrimSuffix(s.partial[:i], "\r")
		s.partial = s.partial[i+1:]
		s.line(line)
	}
}

func (s *buildStream) flush() {
	if s.partial != "" {
		s.line(s.partial)
		s.partial = ""
	}
}

func (s *buildStream) line(text string) {
	if m := stepLine.FindStringSubmatch(text); m != nil {
		s.stepNum, _ = strconv.Atoi(m[1])
		s.stepText = m[3]
		s.step = "[" + m[1] + "/" + m[2] + "] " + m[3]
	}
	if s.id == "" {
		if id, ok := strings.CutPrefix(text, "Successfully built "); ok {
			s.id = strings.TrimSpace(id)
		}
	}
	if s.progress != nil {
		s.progress(runtime.BuildProgress{Step: s.step, Text: text})
	}
}

// fail makes the engine's error message an error that names the failing instruction and its
// line in the Dockerfile.
func (s *buildStream) fail(msg string) error {
	if s.stepText != "" {
		where := s.source.name
		if line := s.source.lineOf(s.stepNum, s.stepText); line > 0 {
			where += ":" + strconv.Itoa(line)
		}
		msg = where + ": " + s.stepText + ": " + msg
	}
	return classifyBuild(errors.New(msg))
}

// dockerfileSource is a Dockerfile's instructions, to find the line of a build step.
type dockerfileSource struct {
	name         string // as the user knows it: "Dockerfile", "dockerfile_inline"
	instructions []dockerfileInstruction
}

// dockerfileInstruction is one instruction: its first line and its text with continuation
// lines joined and runs of white space made one space.
type dockerfileInstruction struct {
	line int
	text string
}

// lineOf returns the line of step number step (counted from 1, as the classic builder counts:
// every instruction of the file in order), whose text is text; 0 when not found.
func (d dockerfileSource) lineOf(step int, text string) int {
	text = strings.Join(strings.Fields(text), " ")
	if step >= 1 && step <= len(d.instructions) && d.instructions[step-1].text == text {
		return d.instructions[step-1].line
	}
	for _, in := range d.instructions {
		if in.text == text {
			return in.line
		}
	}
	return 0
}

// directive is a parser directive at the top of a Dockerfile: "# escape=`".
var directive = regexp.MustCompile(`^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$`)

// parseDockerfile splits a Dockerfile into its instructions as the Engine's parser does:
// comments and empty lines skipped (also between continuation lines), the escape directive
// honoured.
func parseDockerfile(text []byte) []dockerfileInstruction {
	escape := `\`
	var (
		out        []dockerfileInstruction
		current    *dockerfileInstruction
		directives = true
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if directives {
			if m := directive.FindStringSubmatch(line); m != nil {
				if strings.EqualFold(m[1], "escape") && (m[2] == "`" || m[2] == `\`) {
					escape = m[2]
				}
				continue
			}
			directives = false
		}
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if current == nil {
			current = &dockerfileInstruction{line: n}
			line = trimmed
		}
		// The parser joins continuation lines as they are, without the escape character
		// (and the blanks after it) that ends each but the last.
		body := strings.TrimRight(line, " \t")
		continued := strings.HasSuffix(body, escape)
		if continued {
			line = strings.TrimSuffix(body, escape)
		}
		current.text += line
		if !continued {
			current.text = strings.Join(strings.Fields(current.text), " ")
			out = append(out, *current)
			current = nil
		}
	}
	if current != nil {
		current.text = strings.Join(strings.Fields(current.text), " ")
		out = append(out, *current)
	}
	return out
}
