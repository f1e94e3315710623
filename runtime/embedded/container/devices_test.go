package container

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// compTestSpec is a CDI vendor comp.test/dev exposing /dev/null and /dev/zero under other
// names, with an environment variable for any of its devices and one for "zero" alone.
const compTestSpec = `cdiVersion: "0.6.0"
kind: comp.test/dev
devices:
  - name: "null"
    containerEdits:
      deviceNodes: [{path: /dev/comp-null, hostPath: /dev/null}]
  - name: zero
    containerEdits:
      deviceNodes: [{path: /dev/comp-zero, hostPath: /dev/zero}]
      env: [COMP_CDI_ZERO=1]
containerEdits:
  env: [COMP_CDI_VENDOR=comp.test]
`

// gpuSpec is an NVIDIA-style spec: GPUs by index and "all", as nvidia-ctk writes them, here
// backed by /dev/null and /dev/zero.
const gpuSpec = `cdiVersion: "0.6.0"
kind: nvidia.com/gpu
devices:
  - name: "0"
    containerEdits: {deviceNodes: [{path: /dev/gpu0, hostPath: /dev/null}]}
  - name: "1"
    containerEdits: {deviceNodes: [{path: /dev/gpu1, hostPath: /dev/zero}]}
  - name: all
    containerEdits:
      deviceNodes: [{path: /dev/gpu0, hostPath: /dev/null}, {path: /dev/gpu1, hostPath: /dev/zero}]
`

// specDir writes the given CDI specs (file name -> content) in a new folder.
func specDir(t *testing.T, specs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range specs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolveCDIFollowsDockersDeviceDrivers(t *testing.T) {
	both := []string{specDir(t, map[string]string{"comp.yaml": compTestSpec, "gpu.yaml": gpuSpec})}
	onlyComp := []string{specDir(t, map[string]string{"comp.yaml": compTestSpec})}
	cdiReq := func(ids ...string) runtime.DeviceRequest {
		return runtime.DeviceRequest{Key: "devices", Driver: runtime.DriverCDI, DeviceIDs: ids}
	}
	gpus := func(count int, ids ...string) runtime.DeviceRequest {
		return runtime.DeviceRequest{Key: "gpus", Count: count, DeviceIDs: ids, Capabilities: []string{"gpu"}}
	}
	for _, tc := range []struct {
		name  string
		dirs  []string
		reqs  []runtime.DeviceRequest
		want  []string
		class error  // with want unset: the error's class
		err   string // and what it says
	}{
		{name: "CDI names resolve as they are", dirs: both,
			reqs: []runtime.DeviceRequest{cdiReq("comp.test/dev=null", "comp.test/dev=zero")},
			want: []string{"comp.test/dev=null", "comp.test/dev=zero"}},
		{name: "a name in no spec is refused, saying where comp looked", dirs: onlyComp,
			reqs:  []runtime.DeviceRequest{cdiReq("comp.test/dev=null", "comp.test/dev=missing")},
			class: runtime.ErrInvalidArgument,
			err:   "devices: CDI device comp.test/dev=missing is in no CDI spec (looked in " + onlyComp[0] + "; COMP_CDI_SPEC_DIRS sets the folders)"},
		{name: "gpus: all is the spec's all device", dirs: both, reqs: []runtime.DeviceRequest{gpus(runtime.CountAll)},
			want: []string{"nvidia.com/gpu=all"}},
		{name: "count takes the first GPUs by index", dirs: both, reqs: []runtime.DeviceRequest{gpus(1)},
			want: []string{"nvidia.com/gpu=0"}},
		{name: "device_ids pick GPUs by name", dirs: both, reqs: []runtime.DeviceRequest{gpus(0, "1")},
			want: []string{"nvidia.com/gpu=1"}},
		{name: "the same device asked twice is injected once", dirs: both,
			reqs: []runtime.DeviceRequest{gpus(0, "nvidia.com/gpu=0"), gpus(1)}, want: []string{"nvidia.com/gpu=0"}},
		{name: "more GPUs than the specs have", dirs: both, reqs: []runtime.DeviceRequest{gpus(3)},
			class: runtime.ErrInvalidArgument, err: "gpus: 3 GPUs asked for, and the CDI specs have 2 of class nvidia.com/gpu (0, 1)"},
		{name: "a GPU by a name no spec has", dirs: both, reqs: []runtime.DeviceRequest{gpus(0, "7")},
			class: runtime.ErrInvalidArgument, err: "gpus: CDI device nvidia.com/gpu=7 is in no CDI spec"},
		{name: "no GPU spec at all", dirs: onlyComp, reqs: []runtime.DeviceRequest{gpus(runtime.CountAll)},
			class: runtime.ErrInvalidArgument, err: "gpus: no GPU: no CDI spec has a device of class nvidia.com/gpu or amd.com/gpu"},
		{name: "count and device_ids together", dirs: both, reqs: []runtime.DeviceRequest{gpus(1, "0")},
			class: runtime.ErrInvalidArgument, err: "count and device_ids cannot both be set"},
		{name: "driver cdi with a count", dirs: both,
			reqs:  []runtime.DeviceRequest{{Key: "deploy.resources.reservations.devices", Driver: "cdi", Count: runtime.CountAll}},
			class: runtime.ErrInvalidArgument, err: "deploy.resources.reservations.devices: driver cdi takes the CDI device names in device_ids"},
		{name: "driver cdi with a name that is not qualified", dirs: both, reqs: []runtime.DeviceRequest{cdiReq("gpu0")},
			class: runtime.ErrInvalidArgument, err: `"gpu0" is not a fully qualified CDI device name`},
		{name: "a GPU driver the embedded runtime does not know", dirs: both,
			reqs:  []runtime.DeviceRequest{{Key: "gpus", Driver: "intel", Count: 1, Capabilities: []string{"gpu"}}},
			class: runtime.ErrNotImplemented, err: `gpus: GPU driver "intel" is not one the embedded runtime knows`},
		{name: "driver options", dirs: both,
			reqs:  []runtime.DeviceRequest{{Key: "gpus", Count: 1, Capabilities: []string{"gpu"}, Options: map[string]string{"a": "b"}}},
			class: runtime.ErrNotImplemented, err: "gpus: options are for a Docker Engine device driver"},
		{name: "a capability that is not a GPU", dirs: both,
			reqs:  []runtime.DeviceRequest{{Key: "deploy.resources.reservations.devices", Count: 1, Capabilities: []string{"tpu"}}},
			class: runtime.ErrNotImplemented, err: "capabilities [tpu]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveCDI(newCDICache(tc.dirs), tc.dirs, tc.reqs)
			if tc.err == "" {
				if err != nil || !slices.Equal(got, tc.want) {
					t.Fatalf("resolveCDI = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("resolveCDI = %q, %v; want an error of class %v saying %q", got, err, tc.class, tc.err)
			}
		})
	}
}

func TestResolveCDINamesASpecThatFailedToLoad(t *testing.T) {
	dir := specDir(t, map[string]string{"broken.yaml": "cdiVersion: \"0.6.0\"\nkind: comp.test/dev\ndevices: [{name: x}]\n"})
	_, err := resolveCDI(newCDICache([]string{dir}), []string{dir},
		[]runtime.DeviceRequest{{Key: "devices", Driver: "cdi", DeviceIDs: []string{"comp.test/dev=x"}}})
	if err == nil || !strings.Contains(err.Error(), "specs that failed to load: "+filepath.Join(dir, "broken.yaml")) {
		t.Fatalf("resolveCDI = %v, want it to name the broken spec", err)
	}
}

func TestApplyDevicesAddsNodesRulesAndCDIEdits(t *testing.T) {
	dir := specDir(t, map[string]string{"comp.yaml": compTestSpec})
	env := []string{"PATH=/bin", "COMP_CDI_VENDOR=overridden"}
	spec := &specs.Spec{
		Process: &specs.Process{Env: env},
		Linux:   &specs.Linux{Resources: &specs.LinuxResources{}},
	}
	cfg := &Config{
		Devices:        []runtime.DeviceMapping{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rw"}},
		DeviceRequests: []runtime.DeviceRequest{{Key: "devices", Driver: "cdi", DeviceIDs: []string{"comp.test/dev=null", "comp.test/dev=zero"}}},
		CDISpecDirs:    []string{dir},
	}
	if err := applyDevices(spec, cfg); err != nil {
		t.Fatal(err)
	}
	devs := map[string]specs.LinuxDevice{}
	for _, d := range spec.Linux.Devices {
		devs[d.Path] = d
	}
	for path, want := range map[string][2]int64{"/dev/mynull": {1, 3}, "/dev/comp-null": {1, 3}, "/dev/comp-zero": {1, 5}} {
		d, ok := devs[path]
		if !ok || d.Type != "c" || d.Major != want[0] || d.Minor != want[1] {
			t.Errorf("device %s = %+v (found %v), want c %d:%d", path, d, ok, want[0], want[1])
		}
	}
	var rules []string
	for _, r := range spec.Linux.Resources.Devices {
		rules = append(rules, r.Type+" "+itoa(int(*r.Major))+":"+itoa(int(*r.Minor))+" "+r.Access)
	}
	if want := []string{"c 1:3 rw", "c 1:3 rwm", "c 1:5 rwm"}; !slices.Equal(rules, want) {
		t.Errorf("cgroup rules = %q, want %q", rules, want)
	}
	if want := []string{"PATH=/bin", "COMP_CDI_VENDOR=comp.test", "COMP_CDI_ZERO=1"}; !slices.Equal(spec.Process.Env, want) {
		t.Errorf("env = %q, want %q", spec.Process.Env, want)
	}
	if env[1] != "COMP_CDI_VENDOR=overridden" {
		t.Errorf("the caller's environment was changed: %q", env)
	}
}

func TestHostDeviceNodes(t *testing.T) {
	t.Run("a folder maps every device under it", func(t *testing.T) {
		if os.Getuid() != 0 {
			skipOrFail(t, "making device nodes needs root")
		}
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, dev := range map[string]int{"a": int(unix.Mkdev(1, 3)), "sub/b": int(unix.Mkdev(1, 5))} {
			if err := unix.Mknod(filepath.Join(dir, name), unix.S_IFCHR|0o600, dev); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "not-a-device"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		nodes, rules, err := hostDeviceNodes(runtime.DeviceMapping{Source: dir, Target: "/dev/mine", Permissions: "r"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nodes {
			got = append(got, n.Path)
		}
		if want := []string{"/dev/mine/a", "/dev/mine/sub/b"}; !slices.Equal(got, want) || len(rules) != 2 || rules[0].Access != "r" {
			t.Errorf("nodes %q rules %+v, want %q with r rules", got, rules, want)
		}
	})
	for _, tc := range []struct {
		name string
		m    runtime.DeviceMapping
		err  string
	}{
		{"missing source", runtime.DeviceMapping{Source: "/dev/comp-nope", Target: "/dev/x"}, "devices: /dev/comp-nope: no such file or directory"},
		{"not a device", runtime.DeviceMapping{Source: "/etc/hostname", Target: "/dev/x"}, "devices: /etc/hostname is not a device node, nor a folder of them"},
		{"bad permissions", runtime.DeviceMapping{Source: "/dev/null", Target: "/dev/x", Permissions: "rx"}, `permissions "rx" are not a combination of r, w and m`},
		{"repeated permission", runtime.DeviceMapping{Source: "/dev/null", Target: "/dev/x", Permissions: "rr"}, `permissions "rr"`},
		{"relative target", runtime.DeviceMapping{Source: "/dev/null", Target: "dev/x"}, `the target "dev/x" is not an absolute path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDevices([]runtime.DeviceMapping{tc.m}, nil, nil)
			if err == nil || !errors.Is(err, runtime.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("CheckDevices = %v, want ErrInvalidArgument saying %q", err, tc.err)
			}
		})
	}
}

// TestStartWithDevices runs a container with a mapped device and CDI devices, and looks at
// them from inside: device nodes, environment, a mount, and a hook run on the host.
func TestStartWithDevices(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "lib"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooked := filepath.Join(host, "hooked")
	// A vendor whose device brings a library mount and a hook, as GPU vendors' specs do.
	libSpec := `cdiVersion: "0.6.0"
kind: comp.test/lib
devices:
  - name: one
    containerEdits:
      mounts: [{hostPath: ` + filepath.Join(host, "lib") + `, containerPath: /opt/vendor/lib, options: [ro, bind]}]
      hooks: [{hookName: createRuntime, path: /bin/sh, args: [sh, -c, "echo ran > ` + hooked + `"]}]
`
	cfg := config(t, "sh", "-c", `for d in /dev/mynull /dev/comp-null /dev/comp-zero; do [ -c $d ] && echo $d; done
echo hi > /dev/comp-null && echo wrote
head -c 3 /dev/comp-zero | od -An -tx1
echo $COMP_CDI_VENDOR $COMP_CDI_ZERO
cat /opt/vendor/lib`)
	cfg.Devices = []runtime.DeviceMapping{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rwm"}}
	cfg.DeviceRequests = []runtime.DeviceRequest{{Key: "devices", Driver: "cdi", DeviceIDs: []string{"comp.test/dev=null", "comp.test/dev=zero", "comp.test/lib=one"}}}
	cfg.CDISpecDirs = []string{specDir(t, map[string]string{"comp.yaml": compTestSpec, "lib.yaml": libSpec})}
	out, errOut, code := run(t, m, cfg)
	want := "/dev/mynull\n/dev/comp-null\n/dev/comp-zero\nwrote\n 00 00 00\ncomp.test 1\nfrom the host\n"
	if out != want || code != 0 {
		t.Fatalf("got %q (stderr %q), exit %d; want %q, exit 0", out, errOut, code, want)
	}
	if b, err := os.ReadFile(hooked); err != nil || string(b) != "ran\n" {
		t.Errorf("the spec's createRuntime hook: %q, %v; want it to have run", b, err)
	}
}
