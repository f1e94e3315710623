package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
)

const multiStage = `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
RUN mkdir /out && echo "$GREETING from the builder" > /out/greeting && echo built
COPY app.txt /out/

FROM ${BASE}
ARG GREETING
COPY --from=builder /out/greeting /greeting
COPY --from=0 /out/ /copied/
ENV APP=demo PATH=/bin:/usr/bin
LABEL stage=final
EXPOSE 8080 53/udp
VOLUME /data
WORKDIR /srv/app
USER nobody
HEALTHCHECK --interval=5s --retries=2 CMD test -f /greeting
STOPSIGNAL SIGINT
ENTRYPOINT ["cat"]
CMD ["/greeting"]
`

func TestMultiStageBuildWithArgsAndCopyFrom(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app v1\n"})
	id, log := f.build(t, runtime.BuildSpec{
		Context: ctx,
		Args:    map[string]*string{"GREETING": ptr("bonjour")},
		Labels:  map[string]string{"com.example.built-by": "comp"},
		Tags:    []string{"app:1", "app"},
	})

	img, err := f.Images.Get("app:1")
	if err != nil || img.ID != id {
		t.Fatalf("Get(app:1) = %s, %v; want the built %s", img.ID, err, id)
	}
	if !slices.Equal(img.RepoTags, []string{"app:1", "app:latest"}) {
		t.Errorf("tags = %v", img.RepoTags)
	}
	root := f.rootfs(t, id)
	if got := readFile(t, filepath.Join(root, "greeting")); got != "bonjour from the builder\n" {
		t.Errorf("/greeting = %q: want the build arg's value, written by the builder stage", got)
	}
	if got := readFile(t, filepath.Join(root, "copied/app.txt")); got != "app v1\n" {
		t.Errorf("/copied/app.txt = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(root, "srv/app")); err != nil || !fi.IsDir() {
		t.Errorf("WORKDIR /srv/app not created: %v", err)
	}

	c := img.Config
	if !slices.Contains(c.Env, "APP=demo") || slices.ContainsFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, "GREETING=") }) {
		t.Errorf("Env = %v: want APP, and no ARG", c.Env)
	}
	if c.WorkingDir != "/srv/app" || c.User != "nobody" || c.StopSignal != "SIGINT" {
		t.Errorf("WorkingDir %q, User %q, StopSignal %q", c.WorkingDir, c.User, c.StopSignal)
	}
	if !slices.Equal(c.Entrypoint, []string{"cat"}) || !slices.Equal(c.Cmd, []string{"/greeting"}) {
		t.Errorf("Entrypoint %v, Cmd %v", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("Volumes = %v", c.Volumes)
	}
	if c.Labels["stage"] != "final" || c.Labels["com.example.built-by"] != "comp" {
		t.Errorf("Labels = %v: want the Dockerfile's and the spec's", c.Labels)
	}
	if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD-SHELL", "test -f /greeting"}) || h.Interval != 5*time.Second || h.Retries != 2 {
		t.Errorf("Healthcheck = %+v", h)
	}

	out := log.text()
	for _, want := range []string{"[1/18] FROM ${BASE} AS builder", "[3/18] RUN mkdir /out", "| built", "[7/18] COPY --from=builder /out/greeting /greeting", "[18/18] CMD"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}

	// --target stops at the builder: its files, none of the final stage's.
	builder, _ := f.build(t, runtime.BuildSpec{Context: ctx, Target: "builder", Tags: []string{"app:builder"},
		Args: map[string]*string{"GREETING": ptr("bonjour")}})
	broot := f.rootfs(t, builder)
	if _, err := os.Stat(filepath.Join(broot, "out/app.txt")); err != nil {
		t.Errorf("target builder lacks /out/app.txt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(broot, "greeting")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("target builder has the final stage's /greeting: %v", err)
	}
}

func TestBuildPullsTheBaseImageFromARegistry(t *testing.T) {
	f := newFixture(t)
	busybox, err := testimage.Busybox(testimage.WithEnv("FROM_REGISTRY=yes"))
	if err != nil {
		t.Fatal(err)
	}
	reg := testregistry.Start(t)
	if _, err := reg.Push("base:1", busybox); err != nil {
		t.Fatal(err)
	}
	ctx := buildContext(t, map[string]string{"Dockerfile": "ARG REG\nFROM $REG/base:1\nRUN echo \"$FROM_REGISTRY\" > /seen\n"})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Args: map[string]*string{"REG": ptr(reg.Addr())}, Pull: true})
	if got := readFile(t, filepath.Join(f.rootfs(t, id), "seen")); got != "yes\n" {
		t.Errorf("/seen = %q: want the pulled image's environment", got)
	}
}

func TestRunDeletionsBecomeWhiteouts(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN mkdir -p /data/sub && echo keep > /data/keep && echo gone > /data/gone && echo x > /data/sub/x
RUN rm /data/gone /www/index.html && rm -r /data/sub && mkdir /data/sub && echo y > /data/sub/y
`})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Tags: []string{"wh"}})
	root := f.rootfs(t, id)
	for _, gone := range []string{"data/gone", "www/index.html", "data/sub/x"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/%s in the built image: %v; want it deleted", gone, err)
		}
	}
	if got := readFile(t, filepath.Join(root, "data/keep")); got != "keep\n" {
		t.Errorf("/data/keep = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "data/sub/y")); got != "y\n" {
		t.Errorf("/data/sub/y = %q", got)
	}

	// In the store, the top layer holds overlay whiteouts (from the tar's .wh. entries).
	img, err := f.Images.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 {
		t.Fatalf("layers = %d, want the base and one per RUN", len(img.Layers))
	}
	top := img.Layers[2]
	for _, wh := range []string{"data/gone", "www/index.html"} {
		fi, err := os.Lstat(filepath.Join(top, wh))
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 || fi.Sys().(*syscall.Stat_t).Rdev != 0 {
			t.Errorf("top layer %s = %v, %v; want a 0/0 character device", wh, fi, err)
		}
	}
	if v, _ := getXattr(filepath.Join(top, "data/sub"), "trusted.overlay.opaque"); v != "y" {
		t.Errorf("top layer data/sub opaque = %q, want y: a folder recreated hides the old content", v)
	}
}

func TestRebuildWithNoChangeRunsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{
		"Dockerfile": multiStage + "RUN cat /proc/sys/kernel/random/uuid > /tmp/stamp\nCOPY app.txt /app.txt\n",
		"app.txt":    "v1\n",
	})
	spec := runtime.BuildSpec{Context: ctx, Tags: []string{"app"}}
	first, _ := f.build(t, spec)
	stamp := readFile(t, filepath.Join(f.rootfs(t, first), "tmp/stamp"))

	start := time.Now()
	second, log := f.build(t, spec)
	elapsed := time.Since(start)
	t.Logf("rebuild with everything cached took %v", elapsed)
	if second != first {
		t.Errorf("rebuild made image %s, want the same %s", second, first)
	}
	if out := log.text(); strings.Contains(out, "| built") {
		t.Errorf("a RUN ran again:\n%s", out)
	}
	if got := log.cached(); len(got) != 7 {
		t.Errorf("cached steps = %d (%v), want the 7 RUN, COPY and WORKDIR steps", len(got), got)
	}
	if elapsed > time.Second {
		t.Errorf("cached rebuild took %v, want well under a second", elapsed)
	}
	f.checkClean(t)

	// A changed context file misses from its COPY on, the RUN before it still hits.
	if err := os.WriteFile(filepath.Join(ctx, "app.txt"), []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, log := f.build(t, spec)
	root := f.rootfs(t, third)
	if got := readFile(t, filepath.Join(root, "app.txt")); got != "v2\n" {
		t.Errorf("/app.txt = %q after the change", got)
	}
	if got := readFile(t, filepath.Join(root, "tmp/stamp")); got == stamp {
		t.Errorf("/stamp unchanged: the RUN after a changed COPY must run again")
	}
	if cached := log.cached(); !slices.ContainsFunc(cached, func(s string) bool { return strings.Contains(s, "RUN mkdir /out") }) {
		t.Errorf("the builder's RUN was not cached: %v", cached)
	}

	// NoCache runs everything.
	fourth, log := f.build(t, runtime.BuildSpec{Context: ctx, Tags: []string{"app"}, NoCache: true})
	if len(log.cached()) != 0 || !strings.Contains(log.text(), "| built") {
		t.Errorf("NoCache build used the cache:\n%s", log.text())
	}
	if got := readFile(t, filepath.Join(f.rootfs(t, fourth), "tmp/stamp")); got == stamp {
		t.Errorf("/stamp unchanged with NoCache")
	}
}

func TestDockerignoreExcludesFiles(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\n",
		".dockerignore": "secret.txt\n**/*.log\nlogs\n!logs/keep.log\n",
		"a.txt":         "a",
		"secret.txt":    "s3cr3t",
		"dir/b.txt":     "b",
		"dir/skip.log":  "x",
		"logs/old.txt":  "old",
		"logs/keep.log": "kept",
	})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx})
	root := f.rootfs(t, id)
	for _, p := range []string{"ctx/a.txt", "ctx/dir/b.txt", "ctx/Dockerfile", "ctx/logs/keep.log"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("/%s missing: %v", p, err)
		}
	}
	for _, p := range []string{"ctx/secret.txt", "ctx/dir/skip.log", "ctx/logs/old.txt"} {
		if _, err := os.Stat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/%s copied though .dockerignore excludes it (%v)", p, err)
		}
	}

	// Named directly, an excluded file is not there either.
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nCOPY secret.txt /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.Build(context.Background(), runtime.BuildSpec{Context: ctx}, nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2:") || !strings.Contains(err.Error(), ".dockerignore") {
		t.Errorf("COPY of an excluded file = %v, want an error naming line 2 and .dockerignore", err)
	}
}

func TestFailingRunNamesTheLineCommandAndExitCode(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo ok\nRUN echo about to fail && exit 3\nRUN echo never\n"})
	log := &progressLog{}
	_, err := f.Build(context.Background(), runtime.BuildSpec{Context: ctx, Tags: []string{"bad"}}, log.add)
	if err == nil {
		t.Fatal("Build succeeded, want the RUN's failure")
	}
	msg := err.Error()
	for _, want := range []string{"Dockerfile:3:", "RUN echo about to fail && exit 3", "exit code 3", "about to fail"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %v", want, msg)
		}
	}
	var re *RunError
	if !errors.As(err, &re) || re.ExitCode != 3 {
		t.Errorf("error %v: want a RunError with exit code 3", err)
	}
	if strings.Contains(log.text(), "never") {
		t.Errorf("a step after the failure ran:\n%s", log.text())
	}
	if _, err := f.Images.Get("bad"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get(bad) = %v: a failed build must tag nothing", err)
	}

	// The steps before the failure are cached for the next try.
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN echo ok\nRUN echo fixed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, log = f.build(t, runtime.BuildSpec{Context: ctx})
	if cached := log.cached(); !slices.Equal(cached, []string{"[2/3] RUN echo ok"}) {
		t.Errorf("cached = %v, want the step before the failure", cached)
	}
}

func TestScratchWithAStaticBinary(t *testing.T) {
	f := newFixture(t)
	bbPath, err := testimage.FindBusybox()
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"true\"]\n"})
	if err := os.WriteFile(filepath.Join(ctx, "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Tags: []string{"tiny"}})
	img, err := f.Images.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || !slices.Equal(img.Config.Cmd, []string{"/bin/busybox", "true"}) {
		t.Errorf("layers %d, Cmd %v: want one layer and the CMD", len(img.Layers), img.Config.Cmd)
	}
	fi, err := os.Stat(filepath.Join(f.rootfs(t, id), "bin/busybox"))
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Size() != int64(len(bb)) {
		t.Fatalf("/bin/busybox = %v, %v; want the file, mode 0755", fi, err)
	}

	// The image runs: a build on top of it runs the binary.
	ctx2 := buildContext(t, map[string]string{"Dockerfile": "FROM tiny\nRUN [\"/bin/busybox\", \"mkdir\", \"/made\"]\n"})
	id2, _ := f.build(t, runtime.BuildSpec{Context: ctx2})
	if fi, err := os.Stat(filepath.Join(f.rootfs(t, id2), "made")); err != nil || !fi.IsDir() {
		t.Errorf("RUN on the scratch image did not run: %v", err)
	}
	// What the container start created to mount on (/proc, /etc/hosts…) is not in the layer.
	img2, err := f.Images.Get(id2)
	if err != nil {
		t.Fatal(err)
	}
	if top, _ := os.ReadDir(img2.Layers[len(img2.Layers)-1]); !slices.Equal(names(top), []string{"made"}) {
		t.Errorf("the RUN's layer holds %v, want only made", names(top))
	}
}

func TestCopyChownResolvesNamesInTheStage(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{
		"Dockerfile": `FROM busybox
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'staff:x:50:' >> /etc/group
COPY --chown=app:staff f /app/f
COPY --chown=nobody d/ /d/
COPY --chown=7:8 --chmod=0600 f /numeric
USER app
WORKDIR /home/app/work
`,
		"f":     "f",
		"d/x":   "x",
		"d/in/": "",
	})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx})
	root := f.rootfs(t, id)
	for _, c := range []struct {
		path     string
		uid, gid uint32
		perm     os.FileMode
	}{
		{"app/f", 1000, 50, 0o644},
		{"app", 1000, 50, 0o755}, // created for the COPY, owned as it says
		{"d/x", 65534, 65534, 0o644},
		{"d/in", 65534, 65534, 0o755},
		{"numeric", 7, 8, 0o600},
		{"home/app/work", 1000, 1000, 0o755}, // WORKDIR creates it for USER
	} {
		fi, err := os.Stat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("/%s: %v", c.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != c.uid || st.Gid != c.gid || fi.Mode().Perm() != c.perm {
			t.Errorf("/%s: %d:%d %v, want %d:%d %v", c.path, st.Uid, st.Gid, fi.Mode().Perm(), c.uid, c.gid, c.perm)
		}
	}

	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nCOPY --chown=ghost f /f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Build(context.Background(), runtime.BuildSpec{Context: ctx}, nil); err == nil ||
		!strings.Contains(err.Error(), "Dockerfile:2:") || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("--chown to an unknown user = %v, want an error naming line 2 and the user", err)
	}
}

func TestWhatTheBuilderCannotDoNamesTheLine(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, dockerfile, want string
		class                  error
	}{
		{"unknown instruction", "FROM busybox\nFETCH x\n", "dockerfile_inline:2: unknown instruction: FETCH", runtime.ErrInvalidArgument},
		{"ADD of a URL", "FROM busybox\nENV A=1\nADD https://example.com/x.tgz /x\n", "dockerfile_inline:3: ADD https://example.com/x.tgz", runtime.ErrNotImplemented},
		{"RUN --mount=type=ssh,required", "FROM busybox\nRUN --mount=type=ssh,required true\n", "dockerfile_inline:2: RUN --mount=type=ssh,id=default: the build forwards no SSH agent", runtime.ErrInvalidArgument},
		{"missing source", "FROM busybox\n\nCOPY nothing.txt /\n", "dockerfile_inline:3: COPY nothing.txt /: nothing.txt: not found", runtime.ErrInvalidArgument},
		{"unknown target", "FROM busybox AS a\n", "target stage \"b\" could not be found", runtime.ErrInvalidArgument},
		{"no FROM", "RUN true\n", "dockerfile_inline:1:", runtime.ErrInvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := runtime.BuildSpec{Context: buildContext(t, nil), DockerfileInline: c.dockerfile}
			if c.name == "unknown target" {
				spec.Target = "b"
			}
			_, err := f.Build(context.Background(), spec, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build = %v, want %q", err, c.want)
			}
			if !errors.Is(err, c.class) {
				t.Errorf("error %v is not %v", err, c.class)
			}
		})
	}
}

func TestAddExtractsALocalArchive(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN mkdir /src && echo in > /src/inner && tar -czf /a.tgz -C /src .\n"})
	archive, _ := f.build(t, runtime.BuildSpec{Context: ctx, Tags: []string{"arch"}})
	tgz := readFile(t, filepath.Join(f.rootfs(t, archive), "a.tgz"))
	ctx2 := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nADD a.tgz /unpacked/\nADD plain.txt /plain.txt\n",
		"a.tgz":      tgz,
		"plain.txt":  "plain",
	})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx2})
	root := f.rootfs(t, id)
	if got := readFile(t, filepath.Join(root, "unpacked/inner")); got != "in\n" {
		t.Errorf("/unpacked/inner = %q: want the archive extracted", got)
	}
	if got := readFile(t, filepath.Join(root, "plain.txt")); got != "plain" {
		t.Errorf("/plain.txt = %q", got)
	}
}

func TestHeredocs(t *testing.T) {
	f := newFixture(t)
	ctx := buildContext(t, map[string]string{"Dockerfile": `FROM busybox
ARG NAME=demo
RUN <<EOF
echo one > /h1
echo two >> /h1
EOF
RUN <<EOT
#!/bin/sh
echo "script $0" > /h2
EOT
COPY <<EOF /conf/app.conf
name=${NAME}
EOF
`})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx})
	root := f.rootfs(t, id)
	for p, want := range map[string]string{"h1": "one\ntwo\n", "h2": "script /dev/pipes/EOT\n", "conf/app.conf": "name=demo\n"} {
		if got := readFile(t, filepath.Join(root, p)); got != want {
			t.Errorf("/%s = %q, want %q", p, got, want)
		}
	}
}

func TestBuildRemovesWhatACrashedBuildLeft(t *testing.T) {
	f := newFixture(t)
	// A build that died mid-RUN: its folder, overlay and container are still there.
	img, err := f.Images.Get("busybox")
	if err != nil {
		t.Fatal(err)
	}
	step := filepath.Join(f.Dir, "deadbeef", "1")
	if err := os.MkdirAll(step, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.Dir, "deadbeef", "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rootfs, err := mountOverlay(img.Layers, step)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Containers.Start(container.Config{ID: "build-crashed", Rootfs: rootfs, Network: "host",
		Process: container.Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(step, "container"), []byte("build-crashed"), 0o600); err != nil {
		t.Fatal(err)
	}

	f.build(t, runtime.BuildSpec{Context: buildContext(t, nil), DockerfileInline: "FROM busybox\n"})
	if c.Running() {
		t.Error("the crashed build's container still runs")
		_ = c.Destroy()
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "deadbeef")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed build's folder is still there: %v", err)
	}
}
