package project

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestBuildSpecCarriesTheBuildSection(t *testing.T) {
	path := write(t, `
services:
  app:
    build:
      context: ./app
      target: final
      network: none
      shm_size: 128m
      extra_hosts: ["db=10.0.0.2"]
      ulimits: {nofile: 1024}
      platforms: [linux/amd64]
      cache_from: [app:cache]
      no_cache_filter: [deps]
      additional_contexts:
        tools: ./tools
        base: docker-image://busybox
      ssh: [default]
      secrets:
        - token
        - source: pw
          target: db_password
secrets:
  token:
    environment: BUILD_TOKEN
  pw:
    file: ./pw.txt
`)
	dir := filepath.Dir(path)
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILD_TOKEN", "t0k")
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := p.BuildSpec(p.Services["app"])
	if err != nil {
		t.Fatal(err)
	}
	if spec.Target != "final" || spec.Network != "none" || spec.ShmSize != 128<<20 || !slices.Equal(spec.ExtraHosts, []string{"db:10.0.0.2"}) ||
		len(spec.Ulimits) != 1 || spec.Ulimits[0] != (runtime.Ulimit{Name: "nofile", Soft: 1024, Hard: 1024}) ||
		!slices.Equal(spec.Platforms, []string{"linux/amd64"}) || !slices.Equal(spec.CacheFrom, []string{"app:cache"}) ||
		!slices.Equal(spec.NoCacheFilter, []string{"deps"}) || !slices.Equal(spec.SSH, []string{"default"}) {
		t.Errorf("spec = %+v", spec)
	}
	if spec.Contexts["tools"] != filepath.Join(dir, "app", "tools") && spec.Contexts["tools"] != filepath.Join(dir, "tools") {
		t.Errorf("contexts.tools = %q, want an absolute folder", spec.Contexts["tools"])
	}
	if spec.Contexts["base"] != "docker-image://busybox" {
		t.Errorf("contexts.base = %q", spec.Contexts["base"])
	}
	want := []runtime.BuildSecret{
		{ID: "token", Value: []byte("t0k")},
		{ID: "db_password", File: filepath.Join(dir, "pw.txt")},
	}
	if len(spec.Secrets) != len(want) {
		t.Fatalf("secrets = %+v, want %+v", spec.Secrets, want)
	}
	for i, w := range want {
		g := spec.Secrets[i]
		if g.ID != w.ID || g.File != w.File || string(g.Value) != string(w.Value) {
			t.Errorf("secret %d = %+v, want %+v (the ID is the target when set, else the source)", i, g, w)
		}
	}
}

func TestBuildSpecRefusesASecretItCannotRead(t *testing.T) {
	for _, c := range []struct{ name, secret, want string }{
		{"missing file", "file: ./nope.txt", "services.app.build.secrets[0]: secret \"s\": file"},
		{"unset variable", "environment: COMP_TEST_UNSET_VAR", "environment variable COMP_TEST_UNSET_VAR is not set"},
		{"external", "external: true", "secret \"s\" is external"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, "services:\n  app:\n    build:\n      context: .\n      secrets: [s]\nsecrets:\n  s:\n    "+c.secret+"\n")
			p, err := Load(context.Background(), Options{Files: []string{path}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.BuildSpec(p.Services["app"])
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, runtime.ErrInvalidArgument) {
				t.Errorf("BuildSpec = %v, want ErrInvalidArgument with %q", err, c.want)
			}
		})
	}
}
