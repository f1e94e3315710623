package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
)

func TestCheckSupportedResolvesDevicesFromTheCDISpecDirs(t *testing.T) {
	dir := t.TempDir()
	spec := "cdiVersion: \"0.6.0\"\nkind: comp.test/dev\ndevices:\n  - name: \"null\"\n    containerEdits: {deviceNodes: [{path: /dev/comp-null, hostPath: /dev/null}]}\n"
	if err := os.WriteFile(filepath.Join(dir, "comp.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(container.CDISpecDirsEnv, dir)
	bridged := []runtime.NetworkAttachment{{Network: "p_default"}}
	cdi := func(name string) []runtime.DeviceRequest {
		return []runtime.DeviceRequest{{Key: "devices", Driver: runtime.DriverCDI, DeviceIDs: []string{name}}}
	}
	for _, tc := range []struct {
		what string
		spec runtime.ContainerSpec
		want string // "": supported
	}{
		{"a host device", runtime.ContainerSpec{Networks: bridged,
			Devices: []runtime.DeviceMapping{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rwm"}}}, ""},
		{"a CDI device of a spec in COMP_CDI_SPEC_DIRS", runtime.ContainerSpec{Networks: bridged, DeviceRequests: cdi("comp.test/dev=null")}, ""},
		{"a host device that does not exist", runtime.ContainerSpec{Networks: bridged,
			Devices: []runtime.DeviceMapping{{Source: "/dev/comp-nope", Target: "/dev/x", Permissions: "rwm"}}}, "devices: /dev/comp-nope: no such file or directory"},
		{"a CDI device no spec has", runtime.ContainerSpec{Networks: bridged, DeviceRequests: cdi("comp.test/dev=zero")},
			"devices: CDI device comp.test/dev=zero is in no CDI spec (looked in " + dir},
	} {
		err := CheckSupported(tc.spec)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !errors.Is(err, runtime.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.what, err, tc.want)
		}
	}
}
