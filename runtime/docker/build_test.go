package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// The build tests that talk to the engine do not run in parallel: each removes the images it
// built, which must not be the cache another build is using.

// buildFixture builds images from the test image for one test, and removes every image of its
// builds (the intermediate ones too) at the test's end.
type buildFixture struct {
	*fixture
	// baseID is the test image's ID, which the builds name but must not remove.
	baseID string
}

func newBuildFixture(t *testing.T) *buildFixture {
	r := newTestRuntime(t)
	f := &fixture{t: t, r: r, ctx: testContext(t), project: "comptest-" + randomSuffix(t), image: testImage(t, r)}
	base, err := r.InspectImage(f.ctx, f.image)
	if err != nil {
		t.Fatal(err)
	}
	return &buildFixture{fixture: f, baseID: strings.TrimPrefix(base.ID, "sha256:")}
}

// builtImage is the classic builder's line naming the image a step made.
var builtImage = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)

// build runs BuildImage and returns the image ID, the progress it reported and its error.
func (b *buildFixture) build(spec runtime.BuildSpec) (string, []runtime.BuildProgress, error) {
	b.t.Helper()
	var lines []runtime.BuildProgress
	id, err := b.r.BuildImage(b.ctx, spec, func(p runtime.BuildProgress) { lines = append(lines, p) })
	var images []string
	for _, l := range lines {
		if m := builtImage.FindStringSubmatch(l.Text); m != nil && !strings.HasPrefix(b.baseID, m[1]) {
			images = append(images, m[1])
		}
	}
	if id != "" {
		images = append(images, id)
	}
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, tag := range spec.Tags {
			if err := b.r.RemoveImage(ctx, tag, false); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				b.t.Errorf("clean up image %s: %v", tag, err)
			}
		}
		for _, img := range slices.Backward(images) {
			if err := b.r.RemoveImage(ctx, img, true); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				b.t.Errorf("clean up image %s: %v", img, err)
			}
		}
	})
	return id, lines, err
}

// mustBuild is build that fails the test on an error.
func (b *buildFixture) mustBuild(spec runtime.BuildSpec) (string, []runtime.BuildProgress) {
	b.t.Helper()
	id, lines, err := b.build(spec)
	if err != nil {
		b.t.Fatalf("BuildImage() error = %v", err)
	}
	if !strings.HasPrefix(id, "sha256:") {
		b.t.Fatalf("BuildImage() = %q, want an image ID", id)
	}
	return id, lines
}

// output runs script in a container of image and returns its output lines.
func (b *buildFixture) output(image, script string) []string {
	b.t.Helper()
	id := b.run(runtime.ContainerSpec{Name: b.name("check"), Image: image, Command: sh(script)})
	if code := b.wait(id); code != 0 {
		b.t.Fatalf("%q in %s exited with %d", script, image, code)
	}
	var out []string
	for _, l := range b.logs(id, runtime.LogOptions{Tail: -1}) {
		out = append(out, l.Text)
	}
	return out
}

// writeContext makes a build context folder holding files (path: content).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func texts(lines []runtime.BuildProgress) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

func TestBuildImageTwoStagesWithArgsAndDockerignore(t *testing.T) {
	b := newBuildFixture(t)
	t.Setenv("GREETING", "bonjour")
	dir := writeContext(t, map[string]string{
		"Dockerfile": `ARG BASE
FROM ${BASE} AS builder
ARG GREETING=hello
RUN mkdir /out && echo "$GREETING from the builder" > /out/greeting
FROM ${BASE}
COPY --from=builder /out/greeting /app/greeting
COPY . /app/
`,
		".dockerignore":  "# secrets stay home\nsecret.env\nlogs\n*.tmp\n!keep.tmp\nDockerfile\n.dockerignore\n",
		"main.txt":       "main",
		"src/app.txt":    "app",
		"secret.env":     "TOKEN=1",
		"logs/debug.log": "debug",
		"notes.tmp":      "notes",
		"keep.tmp":       "keep",
	})
	tag := "comptest/build:" + randomSuffix(t)
	id, lines := b.mustBuild(runtime.BuildSpec{
		Context: dir,
		// GREETING has no value: it comes from the environment.
		Args: map[string]*string{"BASE": &b.image, "GREETING": nil},
		Tags: []string{tag},
	})

	img, err := b.r.InspectImage(b.ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id {
		t.Errorf("BuildImage() = %s, but %s is %s", id, tag, img.ID)
	}
	got := b.output(tag, "cat /app/greeting; cd /app && find . | sort")
	want := []string{"bonjour from the builder", ".", "./greeting", "./keep.tmp", "./main.txt", "./src", "./src/app.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("the image holds %q, want %q (.dockerignore'd files absent)", got, want)
	}
	// The classic builder counts every instruction, BuildKit each stage's own.
	step := "[6/7] COPY --from=builder /out/greeting /app/greeting"
	if b.r.buildKit {
		step = "[stage-1 2/3] COPY --from=builder /out/greeting /app/greeting"
	}
	if !slices.ContainsFunc(lines, func(p runtime.BuildProgress) bool { return p.Step == step }) {
		t.Errorf("progress %q: no line of step %s", lines, step)
	}
}

func TestBuildImageUsesTheCacheOnASecondBuild(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + b.image + "\nRUN echo built > /built\nCOPY main.txt /\n",
		"main.txt":   "main",
	})
	first, _ := b.mustBuild(runtime.BuildSpec{Context: dir})
	second, lines := b.mustBuild(runtime.BuildSpec{Context: dir})
	if second != first {
		t.Errorf("second build = %s, want the first's %s", second, first)
	}
	usingCache := " ---> Using cache"
	if b.r.buildKit {
		usingCache = "CACHED"
	}
	if !slices.Contains(texts(lines), usingCache) {
		t.Errorf("second build said %q, want %s", texts(lines), usingCache)
	}

	third, lines := b.mustBuild(runtime.BuildSpec{Context: dir, NoCache: true})
	// BuildKit reports the FROM image itself CACHED: the RUN must not be.
	cachedRun := slices.ContainsFunc(lines, func(p runtime.BuildProgress) bool {
		return p.Text == usingCache && (!b.r.buildKit || strings.Contains(p.Step, "RUN "))
	})
	if third == first || cachedRun {
		t.Errorf("NoCache build = %s saying %q, want a new image without the cache", third, texts(lines))
	}
}

func TestBuildImageFailingRunNamesTheDockerfileLine(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"build/Dockerfile.dev": "FROM " + b.image + `
# comments and continuation lines count
RUN echo one \
    && echo two

RUN echo about to fail && exit 3
RUN echo never
`,
	})
	id, _, err := b.build(runtime.BuildSpec{Context: dir, Dockerfile: "build/Dockerfile.dev", Tags: []string{"comptest/fails:" + randomSuffix(t)}})
	if id != "" || !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Fatalf("BuildImage() = %q, %v; want ErrInvalidArgument", id, err)
	}
	exit := "returned a non-zero code: 3"
	if b.r.buildKit {
		exit = "exit code: 3"
	}
	for _, want := range []string{"build/Dockerfile.dev:6: RUN echo about to fail && exit 3: ", exit} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestBuildImageFromInlineDockerfile(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "this is not the Dockerfile used\n",
		"hello.txt":  "hello",
	})
	id, _ := b.mustBuild(runtime.BuildSpec{
		Context:          dir,
		DockerfileInline: "FROM " + b.image + "\nCOPY . /app/\n",
	})
	got := b.output(id, "cd /app && find . | sort")
	want := []string{".", "./Dockerfile", "./hello.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("the image holds %q, want %q (the inline Dockerfile not copied)", got, want)
	}
}

func TestBuildImageSetsLabelsAndTagsAndStopsAtTheTarget(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + b.image + " AS app\nLABEL from.dockerfile=yes\n" +
			"FROM app\nRUN exit 1\n",
	})
	tags := []string{"comptest/labels:" + randomSuffix(t), "comptest/labels-too:" + randomSuffix(t)}
	id, _ := b.mustBuild(runtime.BuildSpec{
		Context: dir,
		Target:  "app",
		Labels:  map[string]string{"com.example.team": "web", runtime.LabelProject: b.project},
		Tags:    tags,
	})
	img, err := b.r.InspectImage(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if !slices.Contains(img.RepoTags, tag) {
			t.Errorf("RepoTags = %q, want %s", img.RepoTags, tag)
		}
	}
	for k, v := range map[string]string{"com.example.team": "web", runtime.LabelProject: b.project, "from.dockerfile": "yes"} {
		if img.Labels[k] != v {
			t.Errorf("Labels = %v, want %s=%s", img.Labels, k, v)
		}
	}
}

func TestBuildImageRejectsContextsItCannotSend(t *testing.T) {
	noDockerfile := t.TempDir()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{} // these fail before the engine is asked
	for _, tc := range []struct {
		name  string
		spec  runtime.BuildSpec
		class error
		want  string
	}{
		{"a missing folder", runtime.BuildSpec{Context: "/nonexistent/app"},
			runtime.ErrInvalidArgument, "build image /nonexistent/app: build context /nonexistent/app does not exist"},
		{"a file instead of a folder", runtime.BuildSpec{Context: file, Tags: []string{"web"}},
			runtime.ErrInvalidArgument, "build image web: build context " + file + " is not a folder"},
		{"a missing Dockerfile", runtime.BuildSpec{Context: noDockerfile, Dockerfile: "app.Dockerfile", Tags: []string{"web"}},
			runtime.ErrInvalidArgument, "build image web: app.Dockerfile not found in build context " + noDockerfile},
		{"a git repository", runtime.BuildSpec{Context: "https://github.com/example/app.git#main", Tags: []string{"web"}},
			runtime.ErrNotImplemented, "build image web: build context https://github.com/example/app.git#main: build from a URL is not supported; clone it and use the folder"},
		{"a git SSH address", runtime.BuildSpec{Context: "git@github.com:example/app.git", Tags: []string{"web"}},
			runtime.ErrNotImplemented, "build from a URL is not supported; clone it and use the folder"},
		{"an http tarball", runtime.BuildSpec{Context: "http://example.com/app.tar.gz", Tags: []string{"web"}},
			runtime.ErrNotImplemented, "build from a URL is not supported; clone it and use the folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.BuildImage(context.Background(), tc.spec, nil)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("BuildImage() error = %v, want %v saying %q", err, tc.class, tc.want)
			}
		})
	}
}

// tarEntries sends spec's context to a tar and returns its entries (name: content).
func tarEntries(t *testing.T, spec runtime.BuildSpec) (map[string]string, *buildContext) {
	t.Helper()
	bc, err := newBuildContext(spec)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { _ = pw.CloseWithError(bc.write(pw)) }()
	entries := map[string]string{}
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, bc
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root", hdr.Name, hdr.Uid, hdr.Gid)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[hdr.Name] = string(data)
	}
}

func TestBuildContextHonoursDockerignore(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string
		dockerfile string
		want       []string
	}{
		{
			name: "excludes files and folders but not their exceptions",
			files: map[string]string{
				".dockerignore": "*.log\nbuild\n!build/keep.txt\n", "Dockerfile": "FROM scratch\n",
				"a.txt": "", "b.log": "", "sub/c.log": "", "build/out.o": "", "build/keep.txt": "", "build/deep/x": "",
			},
			want: []string{".dockerignore", "Dockerfile", "a.txt", "build/keep.txt", "sub/", "sub/c.log"},
		},
		{
			name:  "sends the Dockerfile and .dockerignore even when they are excluded",
			files: map[string]string{".dockerignore": "*\n", "Dockerfile": "FROM scratch\n", "a.txt": ""},
			want:  []string{".dockerignore", "Dockerfile"},
		},
		{
			name:       "sends a Dockerfile from an excluded folder",
			files:      map[string]string{".dockerignore": "docker\n", "docker/app.Dockerfile": "FROM scratch\n", "docker/other": "", "a.txt": ""},
			dockerfile: "docker/app.Dockerfile",
			want:       []string{".dockerignore", "a.txt", "docker/app.Dockerfile"},
		},
		{
			name:  "sends everything without a .dockerignore",
			files: map[string]string{"Dockerfile": "FROM scratch\n", ".git/HEAD": "", "a.txt": ""},
			want:  []string{".git/", ".git/HEAD", "Dockerfile", "a.txt"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, _ := tarEntries(t, runtime.BuildSpec{Context: writeContext(t, tc.files), Dockerfile: tc.dockerfile})
			got := slices.Sorted(func(yield func(string) bool) {
				for name := range entries {
					if !yield(name) {
						return
					}
				}
			})
			if !slices.Equal(got, tc.want) {
				t.Errorf("tar entries = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBuildContextSendsAnInlineDockerfileThatTheEngineDrops(t *testing.T) {
	for _, tc := range []struct {
		name, ignore, wantIgnore string
	}{
		{"without a .dockerignore", "", ".dockerignore\n"},
		{"with a .dockerignore", "*.log", "*.log\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"a.txt": "", "Dockerfile": "not this one"}
			if tc.ignore != "" {
				files[".dockerignore"] = tc.ignore
			}
			inline := "FROM scratch\nCOPY a.txt /\n"
			entries, bc := tarEntries(t, runtime.BuildSpec{Context: writeContext(t, files), DockerfileInline: inline})
			if !strings.HasPrefix(bc.dockerfile, ".comp-dockerfile-") || entries[bc.dockerfile] != inline {
				t.Errorf("Dockerfile %q = %q, want the inline one", bc.dockerfile, entries[bc.dockerfile])
			}
			if want := tc.wantIgnore + bc.dockerfile + "\n"; entries[".dockerignore"] != want {
				t.Errorf(".dockerignore = %q, want %q", entries[".dockerignore"], want)
			}
			if entries["Dockerfile"] != "not this one" {
				t.Errorf("entries = %q, want the context's own Dockerfile too", entries)
			}
			again, err := newBuildContext(runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: inline})
			if err != nil || again.dockerfile != bc.dockerfile {
				t.Errorf("the same inline Dockerfile is named %q, then %q (%v): want a stable name for the cache", bc.dockerfile, again.dockerfile, err)
			}
		})
	}
}

func TestBuildContextSendsADockerfileFromOutsideTheFolder(t *testing.T) {
	parent := writeContext(t, map[string]string{"app.Dockerfile": "FROM scratch\n", "app/a.txt": ""})
	entries, bc := tarEntries(t, runtime.BuildSpec{Context: filepath.Join(parent, "app"), Dockerfile: "../app.Dockerfile"})
	if !strings.HasPrefix(bc.dockerfile, ".comp-dockerfile-") || entries[bc.dockerfile] != "FROM scratch\n" || bc.source.Name != "../app.Dockerfile" {
		t.Errorf("Dockerfile %q (%s) = %q, want ../app.Dockerfile's content", bc.dockerfile, bc.source.Name, entries[bc.dockerfile])
	}
	if _, ok := entries["a.txt"]; !ok || len(entries) != 3 {
		t.Errorf("entries = %q, want a.txt, the Dockerfile and a .dockerignore", entries)
	}
}

func TestBuildContextSendsTheRulesOfTheDockerfilesOwnDockerignore(t *testing.T) {
	// The files are under a parent folder; the context is its app/. DOCKERFILE stands for the
	// name of a Dockerfile sent from outside the context.
	for _, tc := range []struct {
		name       string
		files      map[string]string
		dockerfile string
		want       []string
		wantIgnore string
	}{
		{
			name: "in place of the context's own .dockerignore",
			files: map[string]string{
				"app/.dockerignore": "a.txt\n", "app/Dockerfile": "FROM scratch\n", "app/Dockerfile.dockerignore": "b.txt\nDockerfile\n",
				"app/a.txt": "", "app/b.txt": "",
			},
			want:       []string{".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "a.txt"},
			wantIgnore: "b.txt\nDockerfile\n.dockerignore\n",
		},
		{
			name: "beside a Dockerfile in a subfolder, which is sent though excluded",
			files: map[string]string{
				"app/build/app.Dockerfile": "FROM scratch\n", "app/build/app.Dockerfile.dockerignore": "build\n*.txt",
				"app/a.txt": "", "app/src/main.go": "",
			},
			dockerfile: "build/app.Dockerfile",
			want:       []string{".dockerignore", "build/app.Dockerfile", "src/", "src/main.go"},
			wantIgnore: "build\n*.txt\n.dockerignore\n",
		},
		{
			name: "beside a Dockerfile outside the context",
			files: map[string]string{
				"app.Dockerfile": "FROM scratch\n", "app.Dockerfile.dockerignore": "b.txt\n",
				"app/.dockerignore": "a.txt\n", "app/a.txt": "", "app/b.txt": "",
			},
			dockerfile: "../app.Dockerfile",
			want:       []string{".dockerignore", "DOCKERFILE", "a.txt"},
			wantIgnore: "b.txt\n.dockerignore\nDOCKERFILE\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(writeContext(t, tc.files), "app")
			entries, bc := tarEntries(t, runtime.BuildSpec{Context: dir, Dockerfile: tc.dockerfile})
			got := slices.Sorted(maps.Keys(entries))
			want := strings.Split(strings.ReplaceAll(strings.Join(tc.want, ","), "DOCKERFILE", bc.dockerfile), ",")
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("tar entries = %q, want %q", got, want)
			}
			if wantIgnore := strings.ReplaceAll(tc.wantIgnore, "DOCKERFILE", bc.dockerfile); entries[".dockerignore"] != wantIgnore {
				t.Errorf(".dockerignore = %q, want %q", entries[".dockerignore"], wantIgnore)
			}
		})
	}
}

func TestBuildImageHonoursTheDockerfilesOwnDockerignore(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + b.image + "\nCOPY . /app/\n",
		// The context's rules, which the Dockerfile's own replace, would exclude a.txt.
		".dockerignore":           "a.txt\n",
		"Dockerfile.dockerignore": "b.txt\nDockerfile*\n.dockerignore\n",
		"a.txt":                   "a",
		"b.txt":                   "b",
	})
	id, _ := b.mustBuild(runtime.BuildSpec{Context: dir})
	got := b.output(id, "cd /app && find . | sort")
	want := []string{".", "./a.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("the image holds %q, want %q (the rules of Dockerfile.dockerignore, on the engine's side too)", got, want)
	}
}

func TestDecodeBuildReportsStepsAndErrors(t *testing.T) {
	source, err := buildcontext.ParseDockerfile("Dockerfile", []byte("FROM base\n\nRUN make\n"))
	if err != nil {
		t.Fatal(err)
	}
	stream := `{"stream":"Step 1/2 : FROM base"}
{"stream":"\n"}
{"stream":" ---\u003e 0123456789ab\n"}
{"stream":"Step 2/2 : RUN make"}
{"stream":"\n"}
{"stream":"compiling\nlinking"}
{"stream":" done\n"}
`
	var got []runtime.BuildProgress
	_, err = decodeBuild(strings.NewReader(stream+`{"errorDetail":{"code":2,"message":"The command '/bin/sh -c make' returned a non-zero code: 2"},"error":"The command '/bin/sh -c make' returned a non-zero code: 2"}`),
		source, func(p runtime.BuildProgress) { got = append(got, p) })
	want := []runtime.BuildProgress{
		{Step: "[1/2] FROM base", Text: "Step 1/2 : FROM base"},
		{Step: "[1/2] FROM base", Text: " ---> 0123456789ab"},
		{Step: "[2/2] RUN make", Text: "Step 2/2 : RUN make"},
		{Step: "[2/2] RUN make", Text: "compiling"},
		{Step: "[2/2] RUN make", Text: "linking done"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress = %q, want %q", got, want)
	}
	wantErr := "Dockerfile:3: RUN make: The command '/bin/sh -c make' returned a non-zero code: 2"
	if !errors.Is(err, runtime.ErrInvalidArgument) || err.Error() != wantErr {
		t.Errorf("error = %v, want ErrInvalidArgument %q", err, wantErr)
	}

	id, err := decodeBuild(strings.NewReader(stream+`{"aux":{"ID":"sha256:abc"}}
{"stream":"Successfully built abc\n"}`), source, nil)
	if err != nil || id != "sha256:abc" {
		t.Errorf("decodeBuild() = %q, %v; want the aux ID", id, err)
	}

	_, err = decodeBuild(strings.NewReader(`{"stream":"Step 1/1 : FROM missing"}
{"errorDetail":{"message":"Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host"}}`), source, nil)
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("an unreachable registry: error = %v, want ErrUnavailable", err)
	}
}

func TestBuildImageSendsTheContextOwnedByRoot(t *testing.T) {
	b := newBuildFixture(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + b.image + "\nCOPY owned.txt /owned.txt\n",
		"owned.txt":  "x",
	})
	if err := os.Chown(filepath.Join(dir, "owned.txt"), 1234, 1234); err != nil {
		t.Fatal(err)
	}
	tag := "comptest/owner:" + randomSuffix(t)
	b.mustBuild(runtime.BuildSpec{Context: dir, Tags: []string{tag}})
	if got := b.output(tag, "stat -c %u:%g /owned.txt"); !slices.Equal(got, []string{"0:0"}) {
		t.Errorf("COPY without --chown gave owner %q, want 0:0 as the Docker CLI sends files", got)
	}
}

func TestBuildImagePassesExtraHostsShmSizeAndNetwork(t *testing.T) {
	// With shm_size, an engine whose BuildKit ignores it builds with its classic builder.
	for _, shm := range []int64{0, 32 << 20} {
		b := newBuildFixture(t)
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM " + b.image + "\nRUN grep -E '^10.1.2.3\\s+db$' /etc/hosts > /hosts && df -k /dev/shm | tail -n 1 > /shm && grep -c : /proc/net/dev > /ifaces\n",
		})
		tag := "comptest/knobs:" + randomSuffix(t)
		// NoCache: the RUN sees the settings, and no cache key of the classic builder does.
		b.mustBuild(runtime.BuildSpec{Context: dir, Tags: []string{tag}, ExtraHosts: []string{"db:10.1.2.3"}, ShmSize: shm, Network: "none", NoCache: true})
		got := b.output(tag, "cat /hosts; awk '{print $2}' /shm; cat /ifaces")
		wantShm := "65536"
		if shm > 0 {
			wantShm = "32768"
		}
		if len(got) != 3 || !strings.Contains(got[0], "db") || got[1] != wantShm || got[2] != "1" {
			t.Errorf("shm_size %d: RUN saw %q, want the extra host, a %s KiB /dev/shm and lo alone", shm, got, wantShm)
		}
	}
}
