// Package testimage builds small OCI images for tests from the host's static busybox, so that
// tests need neither a network nor a registry other than their own.
//
// The base image holds one layer: bin/busybox, a symlink bin/NAME -> busybox for every applet
// that `busybox --list` names, etc/passwd and etc/group (root, nobody), an empty tmp/ (mode
// 1777) and www/index.html (IndexHTML, for `httpd -h /www`). Its config sets PATH=/bin and
// Cmd ["sh"]. Every file has a fixed mtime, so the same busybox gives the same digest.
package testimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// IndexHTML is the content of /www/index.html in every image.
const IndexHTML = "<h1>comp e2e</h1>\n"

// BusyboxEnv names an environment variable that overrides where busybox is looked for.
const BusyboxEnv = "COMP_TEST_BUSYBOX"

// Epoch is the fixed time given to every file and to the image's creation date.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// busyboxPaths are where Debian's busybox-static puts the binary.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// File is one regular file of an extra layer added with WithFile.
type File struct {
	Path    string // inside the image, without a leading slash needed
	Content []byte
	Mode    fs.FileMode // permission bits; 0 means 0644
}

// Option changes the image that Busybox builds.
type Option func(*config)

type config struct {
	cfg   v1.Config
	files []File
}

// WithCmd sets the image's Cmd.
func WithCmd(cmd ...string) Option { return func(c *config) { c.cfg.Cmd = cmd } }

// WithEntrypoint sets the image's Entrypoint.
func WithEntrypoint(ep ...string) Option { return func(c *config) { c.cfg.Entrypoint = ep } }

// WithEnv sets environment variables (KEY=VALUE); a key already set is replaced.
func WithEnv(kv ...string) Option {
	return func(c *config) {
		for _, e := range kv {
			key, _, _ := strings.Cut(e, "=")
			replaced := false
			for i, old := range c.cfg.Env {
				if k, _, _ := strings.Cut(old, "="); k == key {
					c.cfg.Env[i] = e
					replaced = true
				}
			}
			if !replaced {
				c.cfg.Env = append(c.cfg.Env, e)
			}
		}
	}
}

// WithLabels adds labels to the image config.
func WithLabels(labels map[string]string) Option {
	return func(c *config) {
		if c.cfg.Labels == nil {
			c.cfg.Labels = map[string]string{}
		}
		for k, v := range labels {
			c.cfg.Labels[k] = v
		}
	}
}

// WithExposedPorts declares exposed ports such as "8080/tcp" ("8080" means tcp).
func WithExposedPorts(ports ...string) Option {
	return func(c *config) {
		if c.cfg.ExposedPorts == nil {
			c.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.cfg.ExposedPorts[p] = struct{}{}
		}
	}
}

// WithHealthcheck sets the image's healthcheck.
func WithHealthcheck(h v1.HealthConfig) Option {
	return func(c *config) { c.cfg.Healthcheck = &h }
}

// WithStopSignal sets the image's stop signal ("SIGINT", …).
func WithStopSignal(sig string) Option { return func(c *config) { c.cfg.StopSignal = sig } }

// WithWorkingDir sets the image's working directory.
func WithWorkingDir(dir string) Option { return func(c *config) { c.cfg.WorkingDir = dir } }

// WithUser sets the user the image runs as ("nobody", "65534:65534", …).
func WithUser(user string) Option { return func(c *config) { c.cfg.User = user } }

// WithVolumes declares the image's VOLUMEs ("/data", …).
func WithVolumes(paths ...string) Option {
	return func(c *config) {
		if c.cfg.Volumes == nil {
			c.cfg.Volumes = map[string]struct{}{}
		}
		for _, p := range paths {
			c.cfg.Volumes[p] = struct{}{}
		}
	}
}

// WithFile adds a regular file to one extra layer on top of the base layer (created with its
// parent folders). Several WithFile options share that layer.
func WithFile(f File) Option { return func(c *config) { c.files = append(c.files, f) } }

// Busybox returns the busybox image changed by opts. It fails when no static busybox is found.
func Busybox(opts ...Option) (v1.Image, error) {
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	c := config{cfg: v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}}
	for _, o := range opts {
		o(&c)
	}
	layers := []v1.Layer{base}
	if len(c.files) > 0 {
		l, err := filesLayer(c.files)
		if err != nil {
			return nil, fmt.Errorf("build extra layer: %w", err)
		}
		layers = append(layers, l)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = goruntime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config = c.cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// FindBusybox returns the path of a statically linked busybox: $COMP_TEST_BUSYBOX, else
// /bin/busybox or /usr/bin/busybox. The error says how to install one.
func FindBusybox() (string, error) {
	candidates := busyboxPaths
	if p := os.Getenv(BusyboxEnv); p != "" {
		candidates = []string{p}
	}
	var problems []string
	for _, p := range candidates {
		err := checkStatic(p)
		if err == nil {
			return p, nil
		}
		problems = append(problems, err.Error())
	}
	return "", fmt.Errorf("no static busybox for test images (%s): run `apt-get install busybox-static`",
		strings.Join(problems, "; "))
}

// checkStatic reports why path is not a statically linked executable.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// baseLayer is built once per process: reading busybox and compressing it is the slow part.
var baseLayer = sync.OnceValues(func() (v1.Layer, error) {
	path, err := FindBusybox()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	out, err := exec.Command(path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name string
		mode int64
	}{
		{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"root/", 0o700},
		{"sys/", 0o555}, {"tmp/", 0o1777}, {"var/", 0o755}, {"www/", 0o755},
	} {
		if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "bin/busybox", bin, 0o755); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name, content string
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\nnobody:x:65534:\n"},
		{"www/index.html", IndexHTML},
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, []byte(f.content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return layerFromBytes(buf.Bytes())
})

// filesLayer builds a layer holding files and their parent folders.
func filesLayer(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(f.Path, "/")
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
				return nil, err
			}
		}
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		if err := writeFile(tw, name, f.Content, int64(mode)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return layerFromBytes(buf.Bytes())
}

func layerFromBytes(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

func writeFile(tw *tar.Writer, name string, content []byte, mode int64) error {
	if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content))}); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// writeHeader writes h owned by root with the fixed mtime.
func writeHeader(tw *tar.Writer, h *tar.Header) error {
	h.ModTime = Epoch
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", h.Name, err)
	}
	return nil
}
