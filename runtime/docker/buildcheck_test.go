package docker

import (
	"errors"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

func TestWhatTheClassicBuilderLacksIsRefusedNamingTheLine(t *testing.T) {
	r := &Runtime{}
	for _, c := range []struct {
		name, dockerfile, want string
	}{
		{"cache mount", "FROM busybox\nENV A=1\nRUN --mount=type=cache,target=/c true\n", "dockerfile_inline:3: RUN --mount=type=cache needs BuildKit"},
		{"secret mount", "FROM busybox\nRUN --mount=type=secret,id=x cat /run/secrets/x\n", "dockerfile_inline:2: RUN --mount=type=secret needs BuildKit"},
		{"chmod", "FROM busybox\nCOPY --chmod=600 a /a\n", "dockerfile_inline:2: COPY --chmod=600 needs BuildKit"},
		{"exclude", "FROM busybox\nCOPY --exclude=*.log . /app\n", "dockerfile_inline:2: COPY --exclude=*.log needs BuildKit"},
		{"checksum", "FROM busybox\nADD --checksum=sha256:00 a /a\n", "dockerfile_inline:2: ADD --checksum=sha256:00 needs BuildKit"},
		{"heredoc", "FROM busybox\nRUN <<EOF\ntrue\nEOF\n", "dockerfile_inline:2: RUN with a heredoc (<<EOF) needs BuildKit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := r.CheckBuildSpec(runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: c.dockerfile})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--runtime embedded") {
				t.Fatalf("CheckBuildSpec = %v, want %q and what to do", err, c.want)
			}
			if !errors.Is(err, runtime.ErrNotImplemented) {
				t.Errorf("%v is not ErrNotImplemented", err)
			}
		})
	}
	ok := "FROM --platform=linux/amd64 busybox AS b\nCOPY --from=b --chown=1:1 a /a\nADD --chown=1 a /b\nHEALTHCHECK --interval=5s --retries=3 CMD true\n"
	if err := r.CheckBuildSpec(runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: ok}); err != nil {
		t.Errorf("CheckBuildSpec of what the classic builder knows = %v", err)
	}
}

func TestBuildKeysTheClassicBuilderLacksAreRefused(t *testing.T) {
	r := &Runtime{}
	for _, c := range []struct {
		name string
		spec runtime.BuildSpec
		want string
	}{
		{"secrets", runtime.BuildSpec{Secrets: []runtime.BuildSecret{{ID: "x", Value: []byte("v")}}}, "build.secrets needs BuildKit"},
		{"ssh", runtime.BuildSpec{SSH: []string{"default"}}, "build.ssh needs BuildKit"},
		{"additional_contexts", runtime.BuildSpec{Contexts: map[string]string{"a": "/tmp"}}, "build.additional_contexts needs BuildKit"},
		{"cache_to", runtime.BuildSpec{CacheTo: []string{"type=inline"}}, "build.cache_to: the Engine's classic builder cannot export its cache"},
		{"cache_from type", runtime.BuildSpec{CacheFrom: []string{"type=registry,ref=x"}}, "build.cache_from \"type=registry,ref=x\""},
		{"no_cache_filter", runtime.BuildSpec{NoCacheFilter: []string{"a"}}, "build.no_cache_filter needs BuildKit"},
		{"platforms", runtime.BuildSpec{Platforms: []string{"linux/amd64", "linux/arm64"}}, "build.platforms"},
		{"sbom", runtime.BuildSpec{SBOM: "true"}, "build.sbom: no builder of comp makes attestations"},
		{"entitlements", runtime.BuildSpec{Entitlements: []string{"security.insecure"}}, "build.entitlements \"security.insecure\" needs BuildKit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := r.CheckBuildSpec(c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, runtime.ErrNotImplemented) {
				t.Errorf("CheckBuildSpec = %v, want ErrNotImplemented with %q", err, c.want)
			}
		})
	}
	ok := runtime.BuildSpec{CacheFrom: []string{"app:latest"}, Platforms: []string{"linux/amd64"}, Entitlements: []string{"network.host"},
		Provenance: "false", ExtraHosts: []string{"db:10.0.0.1"}, Network: "host", ShmSize: 1 << 26}
	if err := r.CheckBuildSpec(ok); err != nil {
		t.Errorf("CheckBuildSpec(%+v) = %v", ok, err)
	}
}

func TestBuildKitChecksWhatTheEnginesFrontendLacks(t *testing.T) {
	old := &Runtime{buildKit: true, apiVersion: "1.41"}
	for _, c := range []struct {
		name, dockerfile, want string
	}{
		{"exclude", "FROM busybox\n\nCOPY --exclude=*.log . /app\n", "dockerfile_inline:3: COPY --exclude needs a newer Dockerfile frontend"},
		{"link", "FROM busybox\nCOPY --link a /a\n", "dockerfile_inline:2: COPY --link needs"},
		{"checksum", "FROM busybox\nADD --checksum=sha256:00 a /a\n", "dockerfile_inline:2: ADD --checksum needs"},
		{"heredoc", "FROM busybox\nRUN <<EOF\ntrue\nEOF\n", "dockerfile_inline:2: RUN with a heredoc (<<EOF) needs"},
		{"secret as env", "FROM busybox\nRUN --mount=type=secret,id=x,env=X true\n", "dockerfile_inline:2: RUN --mount with env= needs"},
		{"tmpfs size", "FROM busybox\nRUN --mount=type=tmpfs,target=/t,size=1m true\n", "dockerfile_inline:2: RUN --mount with size= needs"},
		{"network", "FROM busybox\nRUN --network=none true\n", "dockerfile_inline:2: RUN --network needs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := old.CheckBuildSpec(runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: c.dockerfile})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "API 1.41") ||
				!strings.Contains(err.Error(), "--runtime embedded") || !errors.Is(err, runtime.ErrNotImplemented) {
				t.Fatalf("CheckBuildSpec = %v, want ErrNotImplemented with %q, the engine's API and what to do", err, c.want)
			}
		})
	}
	mounts := "FROM busybox\nRUN --mount=type=cache,target=/c,sharing=locked,uid=1 --mount=type=secret,id=s --mount=type=bind,target=/x,rw --mount=type=tmpfs,target=/t true\nCOPY --chmod=600 a /a\n"
	spec := runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: mounts, Secrets: []runtime.BuildSecret{{ID: "s", Value: []byte("v")}}}
	if err := old.CheckBuildSpec(spec); err != nil {
		t.Errorf("CheckBuildSpec of RUN --mount, build secrets and COPY --chmod with BuildKit = %v", err)
	}
	newer := &Runtime{buildKit: true, apiVersion: "1.47"}
	if err := newer.CheckBuildSpec(runtime.BuildSpec{Context: t.TempDir(), DockerfileInline: "FROM busybox\nCOPY --link a /a\n"}); err != nil {
		t.Errorf("a newer engine is left to say what its frontend lacks; got %v", err)
	}
	for _, s := range []runtime.BuildSpec{
		{Contexts: map[string]string{"a": "/tmp"}},
		{CacheTo: []string{"type=inline"}},
		{NoCacheFilter: []string{"a"}},
		{Provenance: "true"},
	} {
		if err := old.CheckBuildSpec(s); err == nil || !errors.Is(err, runtime.ErrNotImplemented) {
			t.Errorf("CheckBuildSpec(%+v) = %v, want ErrNotImplemented", s, err)
		}
	}
}

func TestBuildKitErrorsNameTheLine(t *testing.T) {
	df, err := buildcontext.ParseDockerfile("Dockerfile", []byte("FROM busybox\nRUN true\nCOPY --link a /a\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &buildKitStream{source: df, names: map[string]string{}, reported: map[string]bool{}, logs: map[string][]string{}}
	err = s.fail("failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: Unknown flag: link")
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:3: Unknown flag: link") || !errors.Is(err, runtime.ErrNotImplemented) {
		t.Errorf("a frontend parse error = %v, want it at Dockerfile:3", err)
	}
	s.failed = "[stage-0 2/2] RUN true"
	s.logs[s.failed] = []string{"some output"}
	err = s.fail("executor failed running [/bin/sh -c true]: exit code: 1")
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:2: RUN true: executor failed") || !strings.Contains(err.Error(), "some output") {
		t.Errorf("a failed step = %v, want it at Dockerfile:2 with its output", err)
	}
}

func TestShmSizeAndUlimitsGoToTheClassicBuilderOfAnOldEngine(t *testing.T) {
	old := &Runtime{buildKit: true, apiVersion: "1.41"}
	dir := t.TempDir()
	plain := runtime.BuildSpec{Context: dir, DockerfileInline: "FROM busybox\nRUN true\n", ShmSize: 1 << 26}
	if bk, err := old.chooseBuilder(plain); bk || err != nil {
		t.Errorf("chooseBuilder(shm_size, a classic Dockerfile) = %v, %v; want the classic builder", bk, err)
	}
	mounts := runtime.BuildSpec{Context: dir, DockerfileInline: "FROM busybox\nRUN --mount=type=cache,target=/c true\n",
		Ulimits: []runtime.Ulimit{{Name: "nofile", Soft: 1, Hard: 1}}}
	if _, err := old.chooseBuilder(mounts); err == nil || !strings.Contains(err.Error(), "build.ulimits: this Docker Engine's BuildKit (API 1.41) ignores it") ||
		!errors.Is(err, runtime.ErrNotImplemented) {
		t.Errorf("chooseBuilder(ulimits, RUN --mount) = %v, want a refusal naming build.ulimits", err)
	}
	mounts.Ulimits = nil
	if bk, err := old.chooseBuilder(mounts); !bk || err != nil {
		t.Errorf("chooseBuilder(RUN --mount) = %v, %v; want BuildKit", bk, err)
	}
	newer := &Runtime{buildKit: true, apiVersion: "1.45"}
	if bk, err := newer.chooseBuilder(plain); !bk || err != nil {
		t.Errorf("a newer engine's BuildKit takes shm_size: got %v, %v", bk, err)
	}
}
