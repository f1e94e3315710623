package testregistry_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushThenPullByTagAndDigest(t *testing.T) {
	reg := testregistry.Start(t)
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	byDigest, err := reg.Push("busybox:latest", img)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if !strings.HasPrefix(byDigest, reg.Addr()+"/busybox@sha256:") || !strings.HasSuffix(byDigest, want.Hex) {
		t.Errorf("Push returned %q, want %s/busybox@%s", byDigest, reg.Addr(), want)
	}
	for _, ref := range []string{reg.Ref("busybox:latest"), byDigest} {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatalf("get %s: %v", ref, err)
		}
		if desc.Digest != want {
			t.Errorf("%s has digest %s, want %s", ref, desc.Digest, want)
		}
	}
}

func TestAddrIsLoopback(t *testing.T) {
	reg := testregistry.Start(t)
	if !strings.HasPrefix(reg.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", reg.Addr())
	}
}

// TestDockerPullsOverPlainHTTP checks the premise the e2e tests rest on: dockerd pulls from a
// registry on 127.0.0.1 over HTTP with no insecure-registries setting.
func TestDockerPullsOverPlainHTTP(t *testing.T) {
	requireDocker(t)
	reg := testregistry.Start(t)
	img, err := testimage.Busybox(testimage.WithLabels(map[string]string{"comp.test": t.Name()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("busybox:pulltest", img); err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("busybox:pulltest")
	t.Cleanup(func() { _, _ = docker(t, "rmi", "-f", ref) })

	if out, err := docker(t, "pull", ref); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", ref, err, out)
	}
	out, err := docker(t, "run", "--rm", "--network", "none", ref, "sh", "-c", "cat /www/index.html; echo $PATH")
	if err != nil {
		t.Fatalf("docker run %s: %v\n%s", ref, err, out)
	}
	if want := testimage.IndexHTML + "/bin\n"; out != want {
		t.Errorf("container printed %q, want %q", out, want)
	}
}

// requireDocker skips without a Docker Engine, or fails in CI, where one must be there.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := docker(t, "info", "--format", "{{.ServerVersion}}")
	if err == nil {
		return
	}
	msg := "docker runtime unavailable: `docker info`: " + err.Error() + ": " + strings.TrimSpace(out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}
