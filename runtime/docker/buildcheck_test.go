package docker

import (
	"errors"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
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
		{"cache_to", runtime.BuildSpec{CacheTo: []string{"type=inline"}}, "build.cache_to needs BuildKit"},
		{"cache_from type", runtime.BuildSpec{CacheFrom: []string{"type=registry,ref=x"}}, "build.cache_from \"type=registry,ref=x\""},
		{"no_cache_filter", runtime.BuildSpec{NoCacheFilter: []string{"a"}}, "build.no_cache_filter needs BuildKit"},
		{"platforms", runtime.BuildSpec{Platforms: []string{"linux/amd64", "linux/arm64"}}, "build.platforms"},
		{"sbom", runtime.BuildSpec{SBOM: "true"}, "build.sbom (attestations) needs BuildKit"},
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
