package docker

import (
	"archive/tar"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"

	"github.com/comp-dev/comp/runtime"
)

var testFiles = []runtime.ContainerFile{
	{Kind: "secret", Key: "db_pw", Target: "/run/secrets/db_pw", Source: "/srv/db_pw.txt", Mode: 0o444},
	{Kind: "secret", Key: "api_key", Target: "/run/secrets/api_key", Content: []byte("k3y"), UID: 1000, GID: 1001, Mode: 0o400},
	{Kind: "config", Key: "empty", Target: "/etc/empty.conf", Content: []byte{}, Mode: 0o444},
}

func TestFileSourcesAreReadOnlyBindMounts(t *testing.T) {
	r := offlineRuntime(t, "1.44")
	_, host, err := r.containerConfig(runtime.ContainerSpec{Image: "busybox", Files: testFiles})
	if err != nil {
		t.Fatal(err)
	}
	want := []mount.Mount{{Type: mount.TypeBind, Source: "/srv/db_pw.txt", Target: "/run/secrets/db_pw", ReadOnly: true}}
	if len(host.Mounts) != 1 || host.Mounts[0] != want[0] {
		t.Errorf("mounts = %+v, want %+v", host.Mounts, want)
	}
}

func TestFilesTarCarriesOwnerModeAndContent(t *testing.T) {
	buf, n, err := filesTar(testFiles)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d entries, want 2 (the bind-mounted one is not copied)", n)
	}
	tr := tar.NewReader(buf)
	var got []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, strings.Join([]string{hdr.Name, string(body), strconv.Itoa(hdr.Uid), strconv.Itoa(hdr.Gid), strconv.FormatInt(hdr.Mode, 8)}, " "))
	}
	want := []string{"run/secrets/api_key k3y 1000 1001 400", "etc/empty.conf  0 0 444"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tar holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckContainerSpecRefusesCopiedFilesInAReadOnlyContainer(t *testing.T) {
	r := &Runtime{}
	if err := r.CheckContainerSpec(runtime.ContainerSpec{ReadOnly: true, Files: testFiles[:1]}); err != nil {
		t.Errorf("a bind-mounted secret in a read-only container: %v", err)
	}
	if err := r.CheckContainerSpec(runtime.ContainerSpec{Files: testFiles}); err != nil {
		t.Errorf("copied secrets in a writable container: %v", err)
	}
	err := r.CheckContainerSpec(runtime.ContainerSpec{ReadOnly: true, Files: testFiles})
	if !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), "secret api_key") || !strings.Contains(err.Error(), "read_only") {
		t.Errorf("copied secret in a read-only container: %v, want a refusal naming secret api_key and read_only", err)
	}
}
