package docker

import (
	"archive/tar"
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
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-units"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// BuildImage builds spec with the engine's BuildKit (buildkit.go) or, on an engine without it
// or with COMP_DOCKER_BUILDER=classic, its classic builder; it tags the result with every one
// of spec.Tags and returns the image ID. What the builder lacks (CheckBuildSpec) is refused
// before the context is sent. The context folder is sent without the files that
// <Dockerfile>.dockerignore, else the folder's .dockerignore, excludes (the Dockerfile and
// .dockerignore are always sent). A Dockerfile that does not parse or a failing instruction
// gives runtime.ErrInvalidArgument naming the Dockerfile's line; a URL context gives
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
	buildKit, err := r.chooseBuilder(spec)
	if err != nil {
		return "", err
	}
	if buildKit {
		return r.buildWithBuildKit(ctx, spec, progress)
	}
	bc, err := newBuildContext(spec)
	if err != nil {
		return "", err
	}
	var ulimits []*units.Ulimit
	for _, u := range spec.Ulimits {
		ulimits = append(ulimits, &units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	platform := ""
	if len(spec.Platforms) == 1 {
		platform = spec.Platforms[0]
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

		ExtraHosts:  spec.ExtraHosts,
		NetworkMode: spec.Network,
		ShmSize:     spec.ShmSize,
		Ulimits:     ulimits,
		Platform:    platform,
		CacheFrom:   spec.CacheFrom,
		Isolation:   container.Isolation(spec.Isolation),
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
	return r.builtImageID(ctx, id, spec)
}

// builtImageID is the ID of the image a build made: the one its output reported, else that of
// its first tag (an engine that reports none).
func (r *Runtime) builtImageID(ctx context.Context, reported string, spec runtime.BuildSpec) (string, error) {
	if reported != "" {
		return reported, nil
	}
	if len(spec.Tags) > 0 {
		img, err := r.InspectImage(ctx, spec.Tags[0])
		if err != nil {
			return "", err
		}
		return img.ID, nil
	}
	return "", errors.New("the engine reported no image ID")
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
	// written into the tar as dockerfile.
	injected []byte
	// ignoreFile, when not nil, is written into the tar as .dockerignore in place of the
	// folder's own (see engineIgnore).
	ignoreFile []byte
	// ignore decides which of the folder's files are sent.
	ignore *buildcontext.Ignore
	source *buildcontext.Dockerfile
}

// newBuildContext checks spec's context folder and reads its .dockerignore rules and
// Dockerfile.
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
	// The folder's real path: whether the Dockerfile is inside it is told from the paths.
	spec.Context = dir
	ignore, err := buildcontext.ReadIgnore(spec)
	if err != nil {
		return nil, err
	}
	source, err := buildcontext.ReadDockerfile(spec)
	if err != nil {
		return nil, err
	}
	bc := &buildContext{dir: dir, source: source}
	if source.Path == "" {
		bc.injected = source.Text
	} else if rel, err := filepath.Rel(dir, source.Path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		bc.injected = source.Text // outside the folder: send it along
	} else {
		bc.dockerfile = filepath.ToSlash(rel)
	}
	switch {
	case bc.injected != nil:
		// A name that depends only on the content keeps the written .dockerignore, and so
		// the build cache, stable from one build to the next.
		sum := sha256.Sum256(bc.injected)
		bc.dockerfile = ".comp-dockerfile-" + hex.EncodeToString(sum[:8])
		bc.ignore = ignore
		bc.ignoreFile = engineIgnore(ignore, bc.dockerfile)
	case ignore.PerDockerfile:
		bc.ignore = ignore.Keeping(bc.dockerfile)
		bc.ignoreFile = engineIgnore(ignore, "")
	default:
		// The engine reads the Dockerfile and the folder's own .dockerignore from the tar.
		bc.ignore = ignore.Keeping(bc.dockerfile, ".dockerignore")
	}
	return bc, nil
}

// engineIgnore is the .dockerignore to send when it cannot be the folder's own: the engine
// applies the one in the tar too, dropping from the context the Dockerfile and .dockerignore
// when it excludes them. So it holds the rules chosen (those of <Dockerfile>.dockerignore, or
// the folder's own), then itself when it is not the folder's own file, and the injected
// Dockerfile (named injected, "" for none), which COPY must not see.
func engineIgnore(ignore *buildcontext.Ignore, injected string) []byte {
	out := bytes.Clone(ignore.Text)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if ignore.File == "" || ignore.PerDockerfile {
		out = append(out, ".dockerignore\n"...)
	}
	if injected != "" {
		out = append(out, injected+"\n"...)
	}
	return out
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

// write sends the context as a tar to w: every file the .dockerignore rules do not exclude,
// owned by root, and the .dockerignore and Dockerfile written in place of the folder's.
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
		if bc.ignoreFile != nil && rel == ".dockerignore" || bc.injected != nil && rel == bc.dockerfile {
			return nil // written below
		}
		if bc.ignore.Excludes(rel) {
			if d.IsDir() && !bc.ignore.Descend(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		return addToTar(tw, path, rel, d)
	})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{".dockerignore", bc.ignoreFile}, {bc.dockerfile, bc.injected}} {
		if f.data == nil {
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
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
	source   *buildcontext.Dockerfile
	progress func(runtime.BuildProgress)
	step     string // "[2/5] RUN make"
	stepNum  int
	stepText string // "RUN make"
	partial  string
	id       string
}

// decodeBuild reads a build's JSON message stream to its end, reporting each line to progress
// (which may be nil), and returns the image ID from it, or the build's error.
func decodeBuild(rd io.Reader, source *buildcontext.Dockerfile, progress func(runtime.BuildProgress)) (string, error) {
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
	if s.stepText == "" {
		return classifyBuild(errors.New(msg))
	}
	var loc []parser.Range
	if node := s.source.Instruction(s.stepNum, s.stepText); node != nil {
		loc = node.Location()
	}
	return classifyBuild(s.source.At(loc, errors.New(s.stepText+": "+msg)))
}
