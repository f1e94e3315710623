package build

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
)

func TestCacheMountIsKeptAcrossBuilds(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox\nARG N\nRUN --mount=type=cache,target=/root/.cache/app,uid=1000,mode=0700 " +
		"echo \"run $N\" >> /root/.cache/app/log && cp /root/.cache/app/log /seen && stat -c %u:%a /root/.cache/app > /owner\n"
	ctx := buildContext(t, map[string]string{"Dockerfile": df})
	f.build(t, runtime.BuildSpec{Context: ctx, Args: map[string]*string{"N": ptr("1")}})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Args: map[string]*string{"N": ptr("2")}})
	root := f.rootfs(t, id)
	if got := readFile(t, filepath.Join(root, "seen")); got != "run 1\nrun 2\n" {
		t.Errorf("the second build's RUN saw %q in the cache: want what the first wrote, then its own line", got)
	}
	if got := readFile(t, filepath.Join(root, "owner")); got != "1000:700\n" {
		t.Errorf("the cache folder is %q, want uid 1000 and mode 700", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "root/.cache")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the image holds the cache mount's point /root/.cache (%v): no layer should", err)
	}
}

func TestPrivateCacheMountsDoNotShareAFolderInUse(t *testing.T) {
	f := newFixture(t)
	bd := &build{Builder: f.Builder}
	mount := func(sharing string) runMount {
		return runMount{m: parseMount(t, "type=cache,target=/c,sharing="+sharing), cacheID: "/c"}
	}
	first, release1, err := bd.cacheDir(mount("private"))
	if err != nil {
		t.Fatal(err)
	}
	second, release2, err := bd.cacheDir(mount("private"))
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Errorf("two private mounts at once got one folder %s", first)
	}
	release1()
	release2()
	again, release3, err := bd.cacheDir(mount("shared"))
	if err != nil {
		t.Fatal(err)
	}
	release3()
	if again != first {
		t.Errorf("a shared mount after them got %s, want the first instance %s", again, first)
	}
}

func TestSecretMountIsReadableInRunAndInNoLayer(t *testing.T) {
	f := newFixture(t)
	const value = "s3cr3t-value-7f1e"
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-a-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	df := `FROM busybox
RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = ` + value + ` && echo ok > /ok
RUN --mount=type=secret,id=token,target=/etc/app/token,uid=1000,mode=0440 stat -c %u:%a /etc/app/token > /stat
RUN --mount=type=secret,id=token,env=TOKEN test "$TOKEN" = ` + value + ` && ! test -e /run/secrets/token && echo env > /env
RUN --mount=type=secret,id=pw cat /run/secrets/pw | wc -c > /pwlen
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo optional > /optional
`
	ctx := buildContext(t, map[string]string{"Dockerfile": df})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Secrets: []runtime.BuildSecret{
		{ID: "token", Value: []byte(value)}, {ID: "pw", File: file},
	}})
	root := f.rootfs(t, id)
	for name, want := range map[string]string{"ok": "ok\n", "stat": "1000:440\n", "env": "env\n", "optional": "optional\n"} {
		if got := readFile(t, filepath.Join(root, name)); got != want {
			t.Errorf("/%s = %q, want %q", name, got, want)
		}
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "pwlen"))); got != "11" {
		t.Errorf("the file secret read in RUN has %s bytes, want 11", got)
	}
	for _, p := range []string{"run/secrets", "etc/app"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the image holds /%s (%v): the secret's mount point must not stay", p, err)
		}
	}
	img, err := f.Images.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range img.Layers {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), value) {
					t.Errorf("layer file %s holds the secret's value", p)
				}
			}
			return nil
		})
	}

	// A required secret the build lacks names the line.
	spec := runtime.BuildSpec{Context: buildContext(t, nil), DockerfileInline: "FROM busybox\nRUN --mount=type=secret,id=db,required true\n"}
	if _, err := f.Build(context.Background(), spec, nil); err == nil || !strings.Contains(err.Error(), "dockerfile_inline:2:") ||
		!strings.Contains(err.Error(), "build.secrets") {
		t.Errorf("a missing required secret = %v, want an error at line 2 saying to add it to build.secrets", err)
	}
}

func TestBindAndTmpfsMounts(t *testing.T) {
	f := newFixture(t)
	df := `FROM busybox AS tools
RUN mkdir /tools && echo tool > /tools/t

FROM busybox
RUN --mount=type=bind,target=/src cat /src/a.txt > /from-context && ! test -e /src/secret.key && ! touch /src/new 2>/dev/null
RUN --mount=type=bind,source=sub,target=/sub,rw echo scribble > /sub/w && cat /sub/b.txt > /from-sub
RUN --mount=type=bind,from=tools,source=/tools,target=/t cat /t/t > /from-stage
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/y && grep -q "/scratch tmpfs" /proc/mounts && echo tmp > /tmpfs
`
	ctx := buildContext(t, map[string]string{"Dockerfile": df, "a.txt": "A\n", "sub/b.txt": "B\n", "secret.key": "k", ".dockerignore": "*.key\n"})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx})
	root := f.rootfs(t, id)
	for name, want := range map[string]string{"from-context": "A\n", "from-sub": "B\n", "from-stage": "tool\n", "tmpfs": "tmp\n"} {
		if got := readFile(t, filepath.Join(root, name)); got != want {
			t.Errorf("/%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(ctx, "sub/w")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write to a rw bind mount reached the context folder (%v)", err)
	}
	for _, p := range []string{"src", "sub", "t", "scratch"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the image holds the mount point /%s (%v)", p, err)
		}
	}
}

func TestCopyExcludeParentsAndAddChecksum(t *testing.T) {
	f := newFixture(t)
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("payload\n")))
	df := "FROM busybox\nCOPY --exclude=*.log --exclude=tmp . /app/\nCOPY --parents a/b/c.txt x/./y/z.txt /p/\n" +
		"ADD --checksum=" + sum + " payload.bin /payload\n"
	ctx := buildContext(t, map[string]string{"Dockerfile": df, "keep.txt": "k", "drop.log": "d", "tmp/t": "t",
		"a/b/c.txt": "c", "x/y/z.txt": "z", "payload.bin": "payload\n"})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx})
	root := f.rootfs(t, id)
	for _, p := range []string{"app/keep.txt", "app/a/b/c.txt", "p/a/b/c.txt", "p/y/z.txt", "payload"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("/%s missing: %v", p, err)
		}
	}
	for _, p := range []string{"app/drop.log", "app/tmp", "p/x"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("/%s is in the image (%v), want it left out", p, err)
		}
	}

	bad := "FROM busybox\nADD --checksum=sha256:" + strings.Repeat("0", 64) + " payload.bin /payload\n"
	spec := runtime.BuildSpec{Context: ctx, DockerfileInline: bad}
	if _, err := f.Build(context.Background(), spec, nil); err == nil || !strings.Contains(err.Error(), "dockerfile_inline:2:") ||
		!strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("a wrong checksum = %v, want a mismatch at line 2", err)
	}
}

func TestNamedContexts(t *testing.T) {
	f := newFixture(t)
	tools := buildContext(t, map[string]string{"bin/hello": "hello from a named context\n", "junk.tmp": "j", ".dockerignore": "*.tmp\n"})
	df := "FROM base AS fromfolder\n\nFROM img\nCOPY --from=tools bin/hello /hello\nCOPY --from=fromfolder /bin/hello /hello2\n" +
		"RUN --mount=type=bind,from=tools,target=/tools cat /tools/bin/hello > /hello3 && ! test -e /tools/junk.tmp\n"
	ctx := buildContext(t, map[string]string{"Dockerfile": df})
	id, _ := f.build(t, runtime.BuildSpec{Context: ctx, Contexts: map[string]string{
		"tools": tools, "base": tools, "img": "docker-image://busybox:latest",
	}})
	root := f.rootfs(t, id)
	for _, p := range []string{"hello", "hello2", "hello3"} {
		if got := readFile(t, filepath.Join(root, p)); got != "hello from a named context\n" {
			t.Errorf("/%s = %q", p, got)
		}
	}
}

func TestBuildKeysTheBuilderCannotHonourAreRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		spec runtime.BuildSpec
		want string
	}{
		{"ssh key file", runtime.BuildSpec{SSH: []string{"default=/etc/passwd"}}, "build.ssh default=/etc/passwd: /etc/passwd is not an agent's socket"},
		{"cache_to", runtime.BuildSpec{CacheTo: []string{"type=local,dest=/tmp/c"}}, "build.cache_to:"},
		{"cache_from", runtime.BuildSpec{CacheFrom: []string{"app:cache"}}, "build.cache_from:"},
		{"platforms", runtime.BuildSpec{Platforms: []string{"linux/s390x"}}, "build.platforms linux/s390x"},
		{"provenance", runtime.BuildSpec{Provenance: "mode=max"}, "build.provenance:"},
		{"network", runtime.BuildSpec{Network: "backend"}, "build.network \"backend\""},
		{"isolation", runtime.BuildSpec{Isolation: "hyperv"}, "build.isolation"},
		{"git context", runtime.BuildSpec{Contexts: map[string]string{"src": "https://github.com/x/y.git"}}, "build.additional_contexts.src:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckSpec(c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, runtime.ErrNotImplemented) {
				t.Errorf("CheckSpec = %v, want ErrNotImplemented naming %q", err, c.want)
			}
		})
	}
	ok := runtime.BuildSpec{Network: "none", Platforms: []string{"linux"}, Entitlements: []string{"network.host"}, Provenance: "false", Isolation: "default"}
	if err := CheckSpec(ok); err != nil {
		t.Errorf("CheckSpec(%+v) = %v, want nil", ok, err)
	}
}

// parseMount reads one RUN --mount flag's value as the builder sees it, expanded.
func parseMount(t *testing.T, flag string) *instructions.Mount {
	t.Helper()
	res, err := parser.Parse(strings.NewReader("RUN --mount=" + flag + " true\n"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		t.Fatal(err)
	}
	run := cmd.(*instructions.RunCommand)
	if err := run.Expand(func(w string) (string, error) { return w, nil }); err != nil {
		t.Fatal(err)
	}
	return instructions.GetMounts(run)[0]
}

func TestSSHMountForwardsTheAgentSocket(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	df := "FROM busybox\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo $SSH_AUTH_SOCK > /sock\n" +
		"RUN --mount=type=ssh,id=other test -z \"$SSH_AUTH_SOCK\" && echo none > /none\n"
	id, _ := f.build(t, runtime.BuildSpec{Context: buildContext(t, map[string]string{"Dockerfile": df}), SSH: []string{"default=" + sock}})
	root := f.rootfs(t, id)
	if got := readFile(t, filepath.Join(root, "sock")); got != "/run/buildkit/ssh_agent.0\n" {
		t.Errorf("RUN saw SSH_AUTH_SOCK %q, want the forwarded socket at /run/buildkit/ssh_agent.0", got)
	}
	if got := readFile(t, filepath.Join(root, "none")); got != "none\n" {
		t.Errorf("an optional ssh mount of an ID the build lacks: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "run/buildkit")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the image holds /run/buildkit (%v)", err)
	}
}

func TestRunSeesExtraHostsShmSizeAndNetwork(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox\nRUN grep -E '^10.1.2.3\\s+db$' /etc/hosts > /hosts && df -k /dev/shm | tail -n 1 > /shm && " +
		"grep -c : /proc/net/dev > /ifaces && ! test -e /etc/hosts.new\n"
	spec := runtime.BuildSpec{Context: buildContext(t, map[string]string{"Dockerfile": df}),
		ExtraHosts: []string{"db:10.1.2.3"}, ShmSize: 32 << 20, Network: "none"}
	id, _ := f.build(t, spec)
	root := f.rootfs(t, id)
	if got := readFile(t, filepath.Join(root, "hosts")); !strings.Contains(got, "db") {
		t.Errorf("/etc/hosts of RUN has %q, want db", got)
	}
	if got := strings.Fields(readFile(t, filepath.Join(root, "shm"))); len(got) < 2 || got[1] != "32768" {
		t.Errorf("/dev/shm of RUN: %v, want 32768 KiB", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "ifaces"))); got != "1" {
		t.Errorf("RUN with network none sees %s interfaces, want lo alone", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/hosts")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); strings.Contains(string(b), "10.1.2.3") {
			t.Errorf("the image's /etc/hosts keeps the build's extra host")
		}
	}
}

func TestRunHasTheBuildsUlimits(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox\nRUN ulimit -n > /soft && ulimit -Hn > /hard\n"
	spec := runtime.BuildSpec{Context: buildContext(t, map[string]string{"Dockerfile": df}),
		Ulimits: []runtime.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}}}
	id, _ := f.build(t, spec)
	root := f.rootfs(t, id)
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "soft"))); got != "512" {
		t.Errorf("ulimit -n in RUN = %s, want 512", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "hard"))); got != "1024" {
		t.Errorf("ulimit -Hn in RUN = %s, want 1024", got)
	}
}
