package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

// loadFiles loads yaml, with the files named in extra written next to it, and returns the
// project and its service web.
func loadFiles(t *testing.T, yaml string, extra map[string]string) (*Project, string) {
	t.Helper()
	path := write(t, yaml)
	dir := filepath.Dir(path)
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

func TestContainerFilesDefaultsTargetsModesAndSources(t *testing.T) {
	t.Setenv("COMP_TEST_DB_PW", "from-env")
	p, dir := loadFiles(t, `
services:
  web:
    image: busybox
    secrets:
      - db_pw
      - source: api_key
        target: api.key
        uid: "1000"
        gid: "1001"
        mode: 0400
      - source: db_pw
        target: /etc/db/password
      - source: owned
        mode: 0440
    configs:
      - app
      - source: app
        target: /etc/app.conf
        mode: 0600
      - source: relative
        target: etc/relative.conf
      - from_env
secrets:
  db_pw:
    file: ./db_pw.txt
  api_key:
    environment: COMP_TEST_DB_PW
  owned:
    file: ./owned.txt
configs:
  app:
    content: |
      listen 8080
  relative:
    file: ./relative.conf
  from_env:
    environment: COMP_TEST_DB_PW
`, map[string]string{"db_pw.txt": "s3cret\n", "owned.txt": "mine\n", "relative.conf": "x\n"})
	web, _ := p.GetService("web")
	files, err := p.ContainerFiles(web)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.ContainerFile{
		{Kind: "secret", Key: "db_pw", Target: "/run/secrets/db_pw", Source: filepath.Join(dir, "db_pw.txt"), Mode: 0o444},
		{Kind: "secret", Key: "api_key", Target: "/run/secrets/api.key", Content: []byte("from-env"), UID: 1000, GID: 1001, Mode: 0o400},
		{Kind: "secret", Key: "db_pw", Target: "/etc/db/password", Source: filepath.Join(dir, "db_pw.txt"), Mode: 0o444},
		// uid, gid or mode on a file source: comp reads it and writes it with them.
		{Kind: "secret", Key: "owned", Target: "/run/secrets/owned", Content: []byte("mine\n"), Mode: 0o440},
		{Kind: "config", Key: "app", Target: "/app", Content: []byte("listen 8080\n"), Mode: 0o444},
		{Kind: "config", Key: "app", Target: "/etc/app.conf", Content: []byte("listen 8080\n"), Mode: 0o600},
		// A relative config target is under /, as Docker Compose mounts it.
		{Kind: "config", Key: "relative", Target: "/etc/relative.conf", Source: filepath.Join(dir, "relative.conf"), Mode: 0o444},
		{Kind: "config", Key: "from_env", Target: "/from_env", Content: []byte("from-env"), Mode: 0o444},
	}
	if len(files) != len(want) {
		t.Fatalf("got %d files, want %d: %v", len(files), len(want), files)
	}
	for i := range want {
		got, w := files[i], want[i]
		if got.Kind != w.Kind || got.Key != w.Key || got.Target != w.Target || got.Source != w.Source ||
			string(got.Content) != string(w.Content) || got.UID != w.UID || got.GID != w.GID || got.Mode != w.Mode {
			t.Errorf("file %d:\n got %+v (content %q)\nwant %+v (content %q)", i, got, got.Content, w, w.Content)
		}
	}

	spec, err := p.ContainerSpec(web, ContainerOptions{Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Files) != len(want) {
		t.Errorf("spec has %d files, want %d", len(spec.Files), len(want))
	}
	for k, v := range spec.Labels {
		for _, secret := range []string{"s3cret", "from-env", "listen 8080"} {
			if strings.Contains(v, secret) {
				t.Errorf("label %s=%q holds the content %q", k, v, secret)
			}
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", spec.Files, spec.Files, spec.Files); strings.Contains(s, "from-env") || strings.Contains(s, "listen") {
		t.Errorf("printing the files shows their content: %s", s)
	}
}

func TestContainerFilesRefusals(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		// says are strings the error must hold; class its runtime error class.
		says  []string
		class error
	}{
		{"a missing file", `
services:
  web: {image: busybox, secrets: [db_pw]}
secrets:
  db_pw: {file: ./nope.txt}
`, []string{"secrets.db_pw.file", "nope.txt", "does not exist"}, runtime.ErrInvalidArgument},
		{"an external secret", `
services:
  web: {image: busybox, secrets: [db_pw]}
secrets:
  db_pw: {external: true}
`, []string{"services.web.secrets[0]", "secrets.db_pw.external", "file: or environment:"}, runtime.ErrNotImplemented},
		{"an external config", `
services:
  web: {image: busybox, configs: [app]}
configs:
  app: {external: true}
`, []string{"services.web.configs[0]", "configs.app.external"}, runtime.ErrNotImplemented},
		{"an unset variable", `
services:
  web: {image: busybox, secrets: [db_pw]}
secrets:
  db_pw: {environment: COMP_TEST_SURELY_UNSET}
`, []string{"secrets.db_pw.environment", "COMP_TEST_SURELY_UNSET", "not set"}, runtime.ErrInvalidArgument},
		{"a uid that is a name", `
services:
  web:
    image: busybox
    secrets: [{source: db_pw, uid: postgres}]
secrets:
  db_pw: {file: ./db_pw.txt}
`, []string{"services.web.secrets[0].uid", "postgres", "numeric"}, runtime.ErrInvalidArgument},
		{"a secret driver", `
services:
  web: {image: busybox, secrets: [db_pw]}
secrets:
  db_pw: {file: ./db_pw.txt, driver: vault}
`, []string{"secrets.db_pw.driver"}, runtime.ErrNotImplemented},
		{"a config template driver", `
services:
  web: {image: busybox, configs: [app]}
configs:
  app: {content: x, template_driver: golang}
`, []string{"configs.app.template_driver"}, runtime.ErrNotImplemented},
		{"two files at one target", `
services:
  web:
    image: busybox
    secrets: [{source: db_pw, target: /etc/x}]
    configs: [{source: app, target: /etc/x}]
secrets:
  db_pw: {file: ./db_pw.txt}
configs:
  app: {content: x}
`, []string{"services.web", "/etc/x", "secret db_pw", "config app"}, runtime.ErrInvalidArgument},
		{"uid on a folder", `
services:
  web:
    image: busybox
    secrets: [{source: dir, mode: 0400}]
secrets:
  dir: {file: ./adir}
`, []string{"services.web.secrets[0]", "folder"}, runtime.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, dir := loadFiles(t, tc.yaml, map[string]string{"db_pw.txt": "x"})
			if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
				t.Fatal(err)
			}
			web, _ := p.GetService("web")
			_, err := p.ContainerSpec(web, ContainerOptions{Number: 1})
			if err == nil {
				t.Fatal("ContainerSpec accepted it")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("error %q is not %v", err, tc.class)
			}
		})
	}
}

func TestChangedFilesNamesWhatChanged(t *testing.T) {
	yaml := `
services:
  web:
    image: busybox
    secrets: [db_pw, api_key]
    configs: [app]
secrets:
  db_pw: {file: ./db_pw.txt}
  api_key: {environment: COMP_TEST_API_KEY}
configs:
  app: {content: "%s"}
`
	t.Setenv("COMP_TEST_API_KEY", "one")
	p, _ := loadFiles(t, fmt.Sprintf(yaml, "v1"), map[string]string{"db_pw.txt": "x"})
	web, _ := p.GetService("web")
	spec, err := p.ContainerSpec(web, ContainerOptions{Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	labels := spec.Labels
	files, _ := p.ContainerFiles(web)
	if changed := ChangedFiles(labels, p.Name, "web", files); len(changed) != 0 {
		t.Errorf("same files: changed %q", changed)
	}

	// New content of the config and of the variable: both are named.
	t.Setenv("COMP_TEST_API_KEY", "two")
	p2, dir := loadFiles(t, fmt.Sprintf(yaml, "v2"), map[string]string{"db_pw.txt": "x"})
	web2, _ := p2.GetService("web")
	files2, err := p2.ContainerFiles(web2)
	if err != nil {
		t.Fatal(err)
	}
	// The bind-mounted file's path differs (another temp folder): it is named too.
	if got, want := strings.Join(ChangedFiles(labels, p.Name, "web", files2), ", "), "secret db_pw, secret api_key, config app"; got != want {
		t.Errorf("changed %q, want %q", got, want)
	}
	// A changed bind-mounted file is seen live: its content does not count.
	if err := os.WriteFile(filepath.Join(dir, "db_pw.txt"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	files3, _ := p2.ContainerFiles(web2)
	spec2, _ := p2.ContainerSpec(web2, ContainerOptions{Number: 1})
	if changed := ChangedFiles(spec2.Labels, p2.Name, "web", files3); len(changed) != 0 {
		t.Errorf("a bind-mounted file's new content: changed %q, want nothing", changed)
	}

	// A container made by Docker Compose (no comp labels) is up to date; one comp made
	// before it recorded files is not.
	if changed := ChangedFiles(map[string]string{}, p.Name, "web", files); len(changed) != 0 {
		t.Errorf("a Compose container: changed %q", changed)
	}
	if changed := ChangedFiles(map[string]string{LabelConfigFields: "x=1"}, p.Name, "web", files); len(changed) != 3 {
		t.Errorf("an older comp container: changed %q, want all three", changed)
	}
}

func TestContainerFilesDoNotChangeTheComposeConfigHash(t *testing.T) {
	yaml := `
services:
  web:
    image: busybox
    configs: [app]
configs:
  app: {content: "%s"}
`
	p1, _ := loadFiles(t, fmt.Sprintf(yaml, "v1"), nil)
	p2, _ := loadFiles(t, fmt.Sprintf(yaml, "v2"), nil)
	w1, _ := p1.GetService("web")
	w2, _ := p2.GetService("web")
	h1, _ := ConfigHash(w1)
	h2, _ := ConfigHash(w2)
	if h1 != h2 {
		t.Errorf("config hashes differ (%s, %s): Docker Compose's do not, and comp's must agree with them", h1, h2)
	}
}
