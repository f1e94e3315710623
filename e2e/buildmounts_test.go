package e2e_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/internal/e2e"
)

// buildMountScenarios cover the Dockerfile features beyond the Engine's classic builder (issue
// 13): RUN --mount=type=cache and secret, build.secrets, COPY --exclude. A runtime whose
// builder has them (`comp version` lists "build-mounts", "build-exclude") must honour them;
// one whose builder does not must refuse the build before anything is built or created,
// naming the feature, where it is, and what to do.
var buildMountScenarios = []scenario{
	{
		name: "build: RUN --mount=type=cache is reused across two builds",
		compose: `
services:
  app:
    build: ./app
    command: ["cat", "/seen"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			// A cache ID of this project alone, so that no other test's builds share it.
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\nARG N\n" +
					"RUN --mount=type=cache,id=" + p.Name + ",target=/cache echo \"build $N\" >> /cache/log && cp /cache/log /seen\n",
			})
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app") })
			if !builderHas(t, p, "build-mounts") {
				r := p.Comp("build", "--build-arg", "N=1", "app")
				expectBuildRefused(t, p, r, "Dockerfile:3", "RUN --mount=type=cache needs BuildKit")
				return
			}
			p.MustComp("build", "--build-arg", "N=1", "app")
			// A changed ARG runs the RUN again: it sees what the first build left in the cache.
			p.MustComp("build", "--build-arg", "N=2", "app")
			if r := p.MustComp("run", "--rm", "-T", "app"); r.Stdout != "build 1\nbuild 2\n" {
				t.Errorf("the second build's RUN saw %q in the cache, want both builds' lines", r.Stdout)
			}
			// The cache's content is in no layer. (BuildKit of Docker 20.10 leaves the empty
			// mount point; comp's builder leaves none.)
			if r := p.Comp("run", "--rm", "-T", "app", "cat", "/cache/log"); r.ExitCode == 0 {
				t.Errorf("the image holds the cache's /cache/log: %q", r.Stdout)
			}
			if r := p.Comp("run", "--rm", "-T", "app", "ls", "/cache"); p.Runtime == "embedded" && r.ExitCode == 0 {
				t.Errorf("the image holds the cache mount's folder /cache: %q", r.Stdout)
			}
		},
	},
	{
		name: "build: a build secret is readable in RUN and absent from the image",
		compose: `
services:
  app:
    build:
      context: ./app
      secrets: [token]
    command: ["cat", "/verified"]
secrets:
  token:
    file: ./token.txt
`,
		run: func(t *testing.T, p *e2e.Project) {
			buf := make([]byte, 12)
			rand.Read(buf)
			value := "tok-" + hex.EncodeToString(buf)
			writeFiles(t, p.Dir, map[string]string{"token.txt": value})
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				// The image keeps RUN's command line: it names the value's digest, not the value.
				"Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\n" +
					"RUN --mount=type=secret,id=token test \"$(sha256sum < /run/secrets/token | cut -d' ' -f1)\" = " +
					fmt.Sprintf("%x", sha256.Sum256([]byte(value))) + " && echo verified > /verified\n",
			})
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app") })
			if !builderHas(t, p, "build-mounts") {
				r := p.Comp("up", "-d")
				expectBuildRefused(t, p, r, "build.secrets", "needs BuildKit")
				return
			}
			p.MustComp("build", "app")
			if r := p.MustComp("run", "--rm", "-T", "app"); r.Stdout != "verified\n" {
				t.Errorf("the RUN did not read the secret: %q", r.Stdout)
			}
			if r := p.Comp("run", "--rm", "-T", "app", "cat", "/run/secrets/token"); r.ExitCode == 0 || strings.Contains(r.Stdout, value) {
				t.Errorf("the image holds /run/secrets/token: exit %d, %q", r.ExitCode, r.Stdout)
			}
			if r := p.Comp("run", "--rm", "-T", "app", "ls", "/run/secrets"); p.Runtime == "embedded" && r.ExitCode == 0 {
				t.Errorf("the image holds the secret's mount folder /run/secrets: %q", r.Stdout)
			}
			// No layer file, and no blob of the image store, holds the value.
			switch p.Runtime {
			case "docker":
				out, err := exec.Command("docker", "save", p.Name+"-app").Output()
				if err != nil {
					t.Fatalf("docker save: %v", err)
				}
				if strings.Contains(string(out), value) {
					t.Errorf("the layers `docker save %s-app` writes hold the secret's value", p.Name)
				}
			case "embedded":
				_ = filepath.WalkDir(e2e.StateRoot, func(path string, d fs.DirEntry, err error) error {
					if err != nil || !d.Type().IsRegular() {
						return nil
					}
					if info, err := d.Info(); err != nil || info.Size() > 64<<20 {
						return nil
					}
					if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), value) {
						t.Errorf("%s holds the secret's value", path)
					}
					return nil
				})
			}
		},
	},
	{
		name: "build: COPY --exclude leaves the excluded files out",
		compose: `
services:
  app:
    build: ./app
    command: ["ls", "-A", "/src"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\n\nCOPY --exclude=*.log --exclude=Dockerfile . /src\n",
				"keep.txt":   "kept",
				"debug.log":  "dropped",
			})
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app") })
			if !builderHas(t, p, "build-exclude") {
				r := p.Comp("up", "-d")
				expectBuildRefused(t, p, r, "Dockerfile:3", "COPY --exclude")
				return
			}
			p.MustComp("build", "app")
			if r := p.MustComp("run", "--rm", "-T", "app"); r.Stdout != "keep.txt\n" {
				t.Errorf("/src holds %q, want keep.txt alone", r.Stdout)
			}
		},
	},
	{
		name: "build: a build key no builder here can honour is refused before anything is made",
		compose: `
services:
  app:
    build:
      context: ./app
      cache_to: ["type=inline"]
  web:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, filepath.Join(p.Dir, "app"), map[string]string{
				"Dockerfile": "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\n",
			})
			r := p.Comp("up", "-d")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, "services.app.build.cache_to") ||
				!strings.Contains(r.Stderr, "remove") {
				t.Errorf("up with build.cache_to: exit %d, want a refusal naming the service, build.cache_to and what to do:\n%s", r.ExitCode, r.Stderr)
			}
			if cs := p.PS(true); len(cs) != 0 {
				t.Errorf("a refused build created containers: %+v", cs)
			}
		},
	},
	{
		name: "build: additional_contexts name a folder and another service's image",
		compose: `
services:
  base:
    build: ./base
    command: ["true"]
  app:
    build:
      context: ./app
      additional_contexts:
        base: service:base
        assets: ./assets
    command: ["cat", "/base-mark", "/asset.txt"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			writeFiles(t, p.Dir, map[string]string{
				"base/Dockerfile":  "FROM " + os.Getenv(e2e.RegistryEnv) + "/busybox:latest\nRUN echo from base > /base-mark\n",
				"app/Dockerfile":   "FROM base\nCOPY --from=assets asset.txt /asset.txt\n",
				"assets/asset.txt": "an asset\n",
			})
			t.Cleanup(func() { p.CompQuiet("image", "rm", "-f", p.Name+"-app", p.Name+"-base") })
			if !builderHas(t, p, "build-contexts") {
				r := p.Comp("up", "-d")
				if r.ExitCode == 0 || !strings.Contains(r.Stderr, "build.additional_contexts") || !strings.Contains(r.Stderr, "--runtime embedded") {
					t.Errorf("exit %d, want a refusal naming build.additional_contexts and what to do:\n%s", r.ExitCode, r.Stderr)
				}
				if cs := p.PS(true); len(cs) != 0 {
					t.Errorf("a refused build created containers: %+v", cs)
				}
				return
			}
			// One build: app's waits for base's, whose image it starts from.
			p.MustComp("build")
			if r := p.MustComp("run", "--rm", "-T", "app"); r.Stdout != "from base\nan asset\n" {
				t.Errorf("app holds %q, want base's file and the asset", r.Stdout)
			}
		},
	},
}

func init() { scenarios = append(scenarios, buildMountScenarios...) }

// builderHas reports whether p's runtime's builder has feature, as `comp version` says.
func builderHas(t *testing.T, p *e2e.Project, feature string) bool {
	t.Helper()
	return strings.Contains(p.MustComp("version").Stdout, feature)
}

// expectBuildRefused checks that r, a build or up, failed naming where and what, said what to
// do, and made no image and no container.
func expectBuildRefused(t *testing.T, p *e2e.Project, r e2e.Result, where, what string) {
	t.Helper()
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, where) || !strings.Contains(r.Stderr, what) ||
		!strings.Contains(r.Stderr, "--runtime embedded") {
		t.Errorf("exit %d, want a refusal naming %q and %q and what to do:\n%s", r.ExitCode, where, what, r.Stderr)
	}
	if cs := p.PS(true); len(cs) != 0 {
		t.Errorf("a refused build created containers: %+v", cs)
	}
	if out := p.CompQuiet("images").Stdout; strings.Contains(out, p.Name+"-app") {
		t.Errorf("a refused build made an image:\n%s", out)
	}
}
