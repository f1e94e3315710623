package buildcontext

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestReadIgnoreChoosesTheFileAsBuildKitDoes(t *testing.T) {
	outside := writeFiles(t, map[string]string{
		"app.Dockerfile":              "FROM x\n",
		"app.Dockerfile.dockerignore": "outside\n",
	})
	for _, tc := range []struct {
		name     string
		files    map[string]string
		spec     runtime.BuildSpec // Context is set to the folder of files
		wantFile string            // relative to the folder; "" for none
		wantPer  bool
	}{
		{"the Dockerfile's own file over the context's",
			map[string]string{"Dockerfile.dockerignore": "a\n", ".dockerignore": "b\n"},
			runtime.BuildSpec{}, "Dockerfile.dockerignore", true},
		{"the file beside a Dockerfile in a subfolder",
			map[string]string{"build/dev.Dockerfile.dockerignore": "a\n", "dev.Dockerfile.dockerignore": "b\n", ".dockerignore": "c\n"},
			runtime.BuildSpec{Dockerfile: "build/dev.Dockerfile"}, "build/dev.Dockerfile.dockerignore", true},
		{"an empty Dockerfile's own file still wins",
			map[string]string{"Dockerfile.dockerignore": "", ".dockerignore": "b\n"},
			runtime.BuildSpec{}, "Dockerfile.dockerignore", true},
		{"the context's .dockerignore when the Dockerfile has none",
			map[string]string{"other.Dockerfile.dockerignore": "a\n", ".dockerignore": "b\n"},
			runtime.BuildSpec{}, ".dockerignore", false},
		{"the context's .dockerignore for an inline Dockerfile",
			map[string]string{"Dockerfile.dockerignore": "a\n", ".dockerignore": "b\n"},
			runtime.BuildSpec{DockerfileInline: "FROM x\n"}, ".dockerignore", false},
		{"none without either file",
			map[string]string{"Dockerfile": "FROM x\n"},
			runtime.BuildSpec{}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Context = writeFiles(t, tc.files)
			ig, err := ReadIgnore(spec)
			if err != nil {
				t.Fatalf("ReadIgnore() error = %v", err)
			}
			want := ""
			if tc.wantFile != "" {
				want = filepath.Join(spec.Context, tc.wantFile)
			}
			if ig.File != want || ig.PerDockerfile != tc.wantPer || string(ig.Text) != tc.files[tc.wantFile] {
				t.Errorf("ReadIgnore() = %s (per Dockerfile: %t, %q), want %s (%t)", ig.File, ig.PerDockerfile, ig.Text, want, tc.wantPer)
			}
		})
	}

	t.Run("the file beside a Dockerfile outside the context", func(t *testing.T) {
		ig, err := ReadIgnore(runtime.BuildSpec{Context: t.TempDir(), Dockerfile: filepath.Join(outside, "app.Dockerfile")})
		if err != nil || ig.File != filepath.Join(outside, "app.Dockerfile.dockerignore") || !ig.Excludes("outside") {
			t.Errorf("ReadIgnore() = %+v, %v; want the rules of app.Dockerfile.dockerignore", ig, err)
		}
	})
	t.Run("a bad pattern names the file", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{".dockerignore": "ok\n[z\n"})
		_, err := ReadIgnore(runtime.BuildSpec{Context: dir})
		if !errors.Is(err, runtime.ErrInvalidArgument) || !strings.Contains(err.Error(), "read "+filepath.Join(dir, ".dockerignore")+": ") {
			t.Errorf("ReadIgnore() error = %v, want ErrInvalidArgument naming .dockerignore", err)
		}
	})
}

func TestIgnoreExcludes(t *testing.T) {
	rules := "# a comment\n/secret.env\n*.log\nbuild\n!build/keep.txt\nvendor/**\n!vendor/**/*.go\n"
	ig, err := ParseIgnore(".dockerignore", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	kept := ig.Keeping("build/Dockerfile")
	for _, tc := range []struct {
		name  string
		rules *Ignore
		path  string
		want  bool
	}{
		{"excludes a file named from the root", ig, "secret.env", true},
		{"a pattern without ** matches at its own depth only", ig, "sub/secret.env", false},
		{"excludes by a wildcard", ig, "app.log", true},
		{"excludes an excluded folder", ig, "build", true},
		{"excludes what is inside an excluded folder", ig, "build/deep/out.o", true},
		{"an exception brings a file back", ig, "build/keep.txt", false},
		{"an exception after ** brings files back at any depth", ig, "vendor/a/b/c.go", false},
		{"what the exception does not name stays excluded", ig, "vendor/a/b/c.txt", true},
		{"keeps what no rule names", ig, "main.go", false},
		{"never excludes the root", ig, ".", false},
		{"a kept path is never excluded", kept, "build/Dockerfile", false},
		{"keeping a path keeps the other rules", kept, "build/out.o", true},
		{"no rules exclude nothing", nil, "app.log", false},
		{"a file without patterns excludes nothing", &Ignore{File: ".dockerignore"}, "app.log", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.Excludes(tc.path); got != tc.want {
				t.Errorf("Excludes(%q) = %t, want %t", tc.path, got, tc.want)
			}
		})
	}
	if ig.Excludes("build/Dockerfile") != true {
		t.Error("Keeping changed the rules it was called on")
	}
}

func TestIgnoreDescendsOnlyWhereAnExceptionMayBringSomethingBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules string
		keep  []string
		dir   string
		want  bool
	}{
		{"not without exceptions", "build\n", nil, "build", false},
		{"into the folder an exception names a file of", "build\n!build/keep.txt\n", nil, "build", true},
		{"into a subfolder on the exception's way", "build\n!build/a/b/keep.txt\n", nil, "build/a", true},
		{"not into a folder off the exception's way", "build\n!build/a/keep.txt\n", nil, "build/b", false},
		{"not into a folder of another name", "build\ndist\n!build/keep.txt\n", nil, "dist", false},
		{"into folders that a wildcard segment matches", "*/tmp\n!*/tmp/keep\n", nil, "web/tmp", true},
		{"into any folder under an exception's **", "vendor\n!vendor/**/*.go\n", nil, "vendor/a/b", true},
		{"into any folder for an exception that starts with **", "logs\n!**/keep.log\n", nil, "logs", true},
		{"not for an exception of a parent folder", "build/out\n!build\n", nil, "build/out", false},
		{"into the folder of a kept path", "docker\n", []string{"docker/app.Dockerfile"}, "docker", true},
		{"not for a kept path elsewhere", "docker\n", []string{"Dockerfile"}, "docker", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ig, err := ParseIgnore(".dockerignore", []byte(tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			if tc.keep != nil {
				ig = ig.Keeping(tc.keep...)
			}
			if got := ig.Descend(tc.dir); got != tc.want {
				t.Errorf("Descend(%q) = %t, want %t", tc.dir, got, tc.want)
			}
		})
	}
}
