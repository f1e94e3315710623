package testimage_test

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	"github.com/comp-dev/comp/internal/testimage"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestBaseLayerHoldsBusyboxAndApplets(t *testing.T) {
	img := busybox(t)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("got %d layers, want 1", len(layers))
	}
	entries := layerEntries(t, layers[0])

	if h, ok := entries["bin/busybox"]; !ok || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox missing or not an executable file: %+v", h)
	}
	for _, applet := range []string{"sh", "sleep", "httpd", "wget", "nc", "cat", "env", "seq"} {
		h, ok := entries["bin/"+applet]
		if !ok {
			t.Errorf("bin/%s missing", applet)
			continue
		}
		if h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s is not a symlink to busybox: type %c -> %q", applet, h.Typeflag, h.Linkname)
		}
	}
	if h, ok := entries["tmp/"]; !ok || h.Mode != 0o1777 {
		t.Errorf("tmp/ missing or mode %o, want 1777", h.Mode)
	}
	for _, f := range []string{"etc/passwd", "etc/group", "www/index.html"} {
		if _, ok := entries[f]; !ok {
			t.Errorf("%s missing", f)
		}
	}
	for name, h := range entries {
		if !h.ModTime.Equal(testimage.Epoch) {
			t.Errorf("%s has mtime %v, want the fixed %v", name, h.ModTime, testimage.Epoch)
		}
	}
}

func TestDigestIsStableAcrossBuilds(t *testing.T) {
	// busybox is read once per process, so also compare builds with an option, which
	// assemble the config and manifest anew.
	d1 := digest(t, busybox(t))
	d2 := digest(t, busybox(t))
	if d1 != d2 {
		t.Errorf("two builds differ: %s != %s", d1, d2)
	}
	withLabel := func() v1.Hash {
		return digest(t, busybox(t, testimage.WithLabels(map[string]string{"variant": "v2"})))
	}
	v2a, v2b := withLabel(), withLabel()
	if v2a != v2b {
		t.Errorf("two builds with a label differ: %s != %s", v2a, v2b)
	}
	if v2a == d1 {
		t.Errorf("a label does not change the digest (%s)", d1)
	}
}

func TestConfigDefaultsAndOptions(t *testing.T) {
	cf, err := busybox(t).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Env; len(got) != 1 || got[0] != "PATH=/bin" {
		t.Errorf("Env = %q, want [PATH=/bin]", got)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "sh" {
		t.Errorf("Cmd = %q, want [sh]", got)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}

	img := busybox(t,
		testimage.WithCmd("httpd", "-f"),
		testimage.WithEntrypoint("/bin/sh", "-c"),
		testimage.WithEnv("PATH=/usr/bin:/bin", "A=1"),
		testimage.WithExposedPorts("8080"),
		testimage.WithStopSignal("SIGINT"),
		testimage.WithWorkingDir("/www"),
		testimage.WithUser("nobody"),
		testimage.WithFile(testimage.File{Path: "/etc/app/conf", Content: []byte("x=1\n")}),
	)
	cf, err = img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Env) != 2 || c.Env[0] != "PATH=/usr/bin:/bin" || c.Env[1] != "A=1" {
		t.Errorf("Env = %q", c.Env)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if c.StopSignal != "SIGINT" || c.WorkingDir != "/www" || c.User != "nobody" || c.Cmd[0] != "httpd" || c.Entrypoint[0] != "/bin/sh" {
		t.Errorf("config = %+v", c)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("got %d layers, want 2", len(layers))
	}
	extra := layerEntries(t, layers[1])
	for _, name := range []string{"etc/", "etc/app/", "etc/app/conf"} {
		if _, ok := extra[name]; !ok {
			t.Errorf("extra layer lacks %s", name)
		}
	}
}

func busybox(t *testing.T, opts ...testimage.Option) v1.Image {
	t.Helper()
	img, err := testimage.Busybox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layerEntries reads a layer's tar headers by name.
func layerEntries(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
	}
}
