package container

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// testBlockDevice is a block device of this machine and its numbers (a loop device, which
// every Linux has).
func testBlockDevice(t *testing.T) (string, int64, int64) {
	t.Helper()
	for _, p := range []string{"/dev/loop0", "/dev/vda", "/dev/sda"} {
		if major, minor, err := blockDevice(p); err == nil {
			return p, major, minor
		}
	}
	t.Skip("no block device to point blkio_config at")
	return "", 0, 0
}

func TestKnobsReachTheLibcontainerConfig(t *testing.T) {
	dev, major, minor := testBlockDevice(t)
	adj, umask, swappiness := 500, uint32(0o027), int64(10)
	cfg := &Config{
		ID: "knobs", Rootfs: t.TempDir(),
		Process: Process{Args: []string{"true"}, Cwd: "/"},
		IPC:     "/proc/1/ns/ipc", ShmSource: "/proc/1/root/dev/shm",
		PID: "host", UTSHost: true, CgroupNS: "private", CgroupParent: "/tenant",
		Ulimits:           []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "core", Soft: -1, Hard: -1}},
		OomScoreAdj:       &adj,
		Umask:             &umask,
		Annotations:       map[string]string{"org.example/a": "b"},
		DeviceCgroupRules: []string{"c 42:* rm"},
		Resources: runtime.Resources{
			CPUPeriod: 50000, CPUQuota: 25000, CPURealtimePeriod: 1000000, CPURealtimeRuntime: 10000,
			MemorySwappiness: &swappiness,
			Blkio: runtime.Blkio{
				Weight:          300,
				WeightDevice:    []runtime.WeightDevice{{Path: dev, Weight: 200}},
				DeviceReadBps:   []runtime.ThrottleDevice{{Path: dev, Rate: 1 << 20}},
				DeviceWriteIOps: []runtime.ThrottleDevice{{Path: dev, Rate: 100}},
			},
		},
	}
	spec, err := buildSpec(cfg, specs.User{}, cfg.Process.Args, "")
	if err != nil {
		t.Fatal(err)
	}
	lcfg, err := libcontainerConfig(cfg, spec)
	if err != nil {
		t.Fatal(err)
	}

	if lcfg.Namespaces.Contains(configs.NEWUTS) || lcfg.Namespaces.Contains(configs.NEWPID) || lcfg.Hostname != "" {
		t.Errorf("namespaces %+v, hostname %q: want the host's UTS and PID namespaces, no hostname", lcfg.Namespaces, lcfg.Hostname)
	}
	if got := lcfg.Namespaces.PathOf(configs.NEWIPC); got != "/proc/1/ns/ipc" {
		t.Errorf("IPC namespace path = %q, want the joined one", got)
	}
	if !lcfg.Namespaces.Contains(configs.NEWCGROUP) {
		t.Errorf("namespaces %+v: want a private cgroup namespace", lcfg.Namespaces)
	}
	shm := slices.IndexFunc(lcfg.Mounts, func(m *configs.Mount) bool { return m.Destination == "/dev/shm" })
	if shm < 0 || lcfg.Mounts[shm].Source != "/proc/1/root/dev/shm" || lcfg.Mounts[shm].Device != "bind" {
		t.Errorf("/dev/shm mount = %+v, want a bind of the joined container's", lcfg.Mounts[max(shm, 0)])
	}
	want := []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 2048}, {Type: unix.RLIMIT_CORE, Soft: unix.RLIM_INFINITY, Hard: unix.RLIM_INFINITY}}
	if !slices.Equal(lcfg.Rlimits, want) {
		t.Errorf("Rlimits = %+v, want %+v", lcfg.Rlimits, want)
	}
	if lcfg.OomScoreAdj == nil || *lcfg.OomScoreAdj != 500 || lcfg.Umask == nil || *lcfg.Umask != 0o027 {
		t.Errorf("OomScoreAdj %v, Umask %v: want 500 and 027", lcfg.OomScoreAdj, lcfg.Umask)
	}
	if !slices.Contains(lcfg.Labels, "org.example/a=b") {
		t.Errorf("Labels = %q, want the annotation", lcfg.Labels)
	}
	if lcfg.Cgroups.Path != "/tenant/knobs" {
		t.Errorf("cgroups path = %q, want /tenant/knobs", lcfg.Cgroups.Path)
	}
	r := lcfg.Cgroups.Resources
	if r.CpuPeriod != 50000 || r.CpuQuota != 25000 || r.CpuRtPeriod != 1000000 || r.CpuRtRuntime != 10000 ||
		r.MemorySwappiness == nil || *r.MemorySwappiness != 10 || r.BlkioWeight != 300 {
		t.Errorf("cgroup resources = %+v", r)
	}
	if len(r.BlkioWeightDevice) != 1 || r.BlkioWeightDevice[0].Major != major || r.BlkioWeightDevice[0].Minor != minor || r.BlkioWeightDevice[0].Weight != 200 {
		t.Errorf("BlkioWeightDevice = %+v, want %s (%d:%d) at 200", r.BlkioWeightDevice, dev, major, minor)
	}
	if len(r.BlkioThrottleReadBpsDevice) != 1 || r.BlkioThrottleReadBpsDevice[0].String() != strconv.FormatInt(major, 10)+":"+strconv.FormatInt(minor, 10)+" 1048576" {
		t.Errorf("BlkioThrottleReadBpsDevice = %v", r.BlkioThrottleReadBpsDevice)
	}
	if len(r.BlkioThrottleWriteIOPSDevice) != 1 || r.BlkioThrottleWriteIOPSDevice[0].Rate != 100 {
		t.Errorf("BlkioThrottleWriteIOPSDevice = %v", r.BlkioThrottleWriteIOPSDevice)
	}
	rule := slices.IndexFunc(r.Devices, func(d *devconfig.Rule) bool { return d.Major == 42 })
	if rule < 0 || !r.Devices[rule].Allow || r.Devices[rule].Minor != -1 || string(r.Devices[rule].Permissions) != "rm" {
		t.Errorf("device rules %+v: want c 42:* rm allowed", r.Devices)
	}
}

func TestDefaultNamespacesAndShm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		want     []configs.NamespaceType
		notWant  []configs.NamespaceType
		shm      string // the /dev/shm mount's type, "" for none
		hostname string
	}{
		{"defaults", Config{ID: "c1234567890123"}, []configs.NamespaceType{configs.NEWUTS, configs.NEWPID, configs.NEWIPC, configs.NEWNET}, nil, "tmpfs", "c12345678901"},
		{"ipc none: no /dev/shm", Config{ID: "c", IPC: "none"}, []configs.NamespaceType{configs.NEWIPC}, nil, "", "c"},
		{"ipc host: the host's /dev/shm", Config{ID: "c", IPC: "host", ShmSource: "/dev/shm"}, nil, []configs.NamespaceType{configs.NEWIPC}, "bind", "c"},
		{"cgroup host", Config{ID: "c", CgroupNS: "host"}, nil, []configs.NamespaceType{configs.NEWCGROUP}, "tmpfs", "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Rootfs, cfg.Process = t.TempDir(), Process{Args: []string{"true"}, Cwd: "/"}
			cfg.Hostname = cfg.ID[:min(12, len(cfg.ID))]
			spec, err := buildSpec(&cfg, specs.User{}, cfg.Process.Args, "")
			if err != nil {
				t.Fatal(err)
			}
			lcfg, err := libcontainerConfig(&cfg, spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, ns := range tc.want {
				if !lcfg.Namespaces.Contains(ns) {
					t.Errorf("no %s namespace of its own", ns)
				}
			}
			for _, ns := range tc.notWant {
				if lcfg.Namespaces.Contains(ns) {
					t.Errorf("a %s namespace of its own", ns)
				}
			}
			shm := ""
			for _, m := range lcfg.Mounts {
				if m.Destination == "/dev/shm" {
					shm = m.Device
				}
			}
			if shm != tc.shm || lcfg.Hostname != tc.hostname {
				t.Errorf("/dev/shm is %q, hostname %q; want %q, %q", shm, lcfg.Hostname, tc.shm, tc.hostname)
			}
		})
	}
	cfg := Config{ID: "c", Rootfs: t.TempDir(), UTSHost: true, Hostname: "web", Process: Process{Args: []string{"true"}}}
	if _, err := buildSpec(&cfg, specs.User{}, cfg.Process.Args, ""); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("a hostname with uts host: %v, want ErrInvalidArgument", err)
	}
}

func TestDeviceRule(t *testing.T) {
	for _, tc := range []struct {
		rule, want string // want: "" for an error
	}{
		{"c 1:3 mr", "c 1:3 mr"},
		{"b 8:* rwm", "b 8:* rwm"},
		{"a *:* r", "a *:* r"},
		{"x 1:3 r", ""},
		{"c 1 r", ""},
		{"c 1:y r", ""},
		{"c 1:3 rx", ""},
		{"c 1:3", ""},
	} {
		got, err := deviceRule(tc.rule)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), "device_cgroup_rules") {
				t.Errorf("deviceRule(%q) = %+v, %v; want an error naming the key", tc.rule, got, err)
			}
			continue
		}
		num := func(p *int64) string {
			if p == nil {
				return "*"
			}
			return strconv.FormatInt(*p, 10)
		}
		if err != nil || !got.Allow || got.Type+" "+num(got.Major)+":"+num(got.Minor)+" "+got.Access != tc.want {
			t.Errorf("deviceRule(%q) = %+v, %v", tc.rule, got, err)
		}
	}
}

// checkCase is a spec CheckHost accepts (want "") or refuses saying want.
type checkCase struct {
	name string
	spec runtime.ContainerSpec
	want string
}

func TestCheckHostRefusesWhatThisHostCannotApply(t *testing.T) {
	dev, _, _ := testBlockDevice(t)
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		t.Fatal(err)
	}
	adj := func(v int) *int { return &v }
	swap := int64(10)
	cases := []checkCase{
		{"ulimits within comp's own", runtime.ContainerSpec{Ulimits: []runtime.Ulimit{{Name: "nofile", Soft: 512, Hard: int64(own.Max)}}}, ""},
		{"a soft limit above the hard one", runtime.ContainerSpec{Ulimits: []runtime.Ulimit{{Name: "nofile", Soft: 2048, Hard: 1024}}}, "the soft limit 2048 is above the hard limit 1024"},
		{"an unknown ulimit", runtime.ContainerSpec{Ulimits: []runtime.Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}, "ulimits bogus"},
		{"oom_score_adj out of range", runtime.ContainerSpec{OomScoreAdj: adj(1001)}, "between -1000 and 1000"},
		{"oom_score_adj up", runtime.ContainerSpec{OomScoreAdj: adj(500)}, ""},
		{"cpus with cpu_quota", runtime.ContainerSpec{Resources: runtime.Resources{NanoCPUs: 1e9, CPUQuota: 50000}}, "cpus and cpu_quota/cpu_period cannot both be set"},
		{"cpu_period too short", runtime.ContainerSpec{Resources: runtime.Resources{CPUPeriod: 10}}, "cpu_period 10"},
		{"cpu_quota and cpu_period", runtime.ContainerSpec{Resources: runtime.Resources{CPUQuota: 50000, CPUPeriod: 100000}}, ""},
		{"cpu_count", runtime.ContainerSpec{Resources: runtime.Resources{CPUCount: 2}}, "cpu_count is a Windows-only option"},
		{"cpu_percent", runtime.ContainerSpec{Resources: runtime.Resources{CPUPercent: 50}}, "cpu_percent is a Windows-only option"},
		{"a bad device rule", runtime.ContainerSpec{DeviceCgroupRules: []string{"c 1:3 x"}}, "device_cgroup_rules"},
		{"a bad cgroup namespace", runtime.ContainerSpec{Cgroup: "shared"}, `cgroup "shared"`},
		{"a device rate on a missing device", runtime.ContainerSpec{Resources: runtime.Resources{Blkio: runtime.Blkio{DeviceReadBps: []runtime.ThrottleDevice{{Path: "/dev/nonexistent", Rate: 1}}}}}, "device /dev/nonexistent"},
		{"a device rate on a character device", runtime.ContainerSpec{Resources: runtime.Resources{Blkio: runtime.Blkio{DeviceReadBps: []runtime.ThrottleDevice{{Path: "/dev/null", Rate: 1}}}}}, "not a block device"},
		{"a umask too big", runtime.ContainerSpec{Umask: ptr(uint32(0o1777))}, "umask"},
		{"real-time runtime in comp's own cgroup", runtime.ContainerSpec{Resources: runtime.Resources{CPURealtimeRuntime: 1000}}, "cpu_rt_runtime"},
	}
	if !hasCapability(capability.CAP_SYS_RESOURCE) {
		cases = append(cases,
			checkCase{"a hard limit above comp's own", runtime.ContainerSpec{Ulimits: []runtime.Ulimit{{Name: "nofile", Soft: 1, Hard: int64(own.Max) + 1}}}, "needs CAP_SYS_RESOURCE"},
			checkCase{"oom_score_adj below comp's own", runtime.ContainerSpec{OomScoreAdj: adj(ownOomScoreAdj() - 1)}, "needs CAP_SYS_RESOURCE"})
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	throttle := runtime.ContainerSpec{Resources: runtime.Resources{Blkio: runtime.Blkio{DeviceReadBps: []runtime.ThrottleDevice{{Path: dev, Rate: 1 << 20}}}}}
	weight := runtime.ContainerSpec{Resources: runtime.Resources{Blkio: runtime.Blkio{Weight: 300}}}
	swappiness := runtime.ContainerSpec{Resources: runtime.Resources{MemorySwappiness: &swap}}
	if v2 {
		cases = append(cases, checkCase{"mem_swappiness on cgroup v2", swappiness, "cgroup v2"})
	} else {
		dir, _ := cgroups.FindCgroupMountpoint("", "blkio")
		want := ""
		if !blkioWeights(dir) {
			want = "no weight control"
		}
		cases = append(cases,
			checkCase{"mem_swappiness on cgroup v1", swappiness, ""},
			checkCase{"blkio throttles on cgroup v1", throttle, ""},
			checkCase{"blkio weight as this host has it", weight, want})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHost(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckHost() = %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckHost() = %v, want an error saying %q", err, tc.want)
			case err != nil && !errors.Is(err, runtime.ErrInvalidArgument) && !errors.Is(err, runtime.ErrNotImplemented):
				t.Errorf("CheckHost() = %v: not classified", err)
			}
		})
	}
}

// The knobs as a process in the container sees them.
func TestKnobsInsideTheContainer(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	readlink := func(p string) string {
		s, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		cmd   string
		setup func(*Config)
		want  string
	}{
		{"ulimits", "ulimit -n; ulimit -Hn", func(c *Config) {
			c.Ulimits = []runtime.Ulimit{{Name: "nofile", Soft: 1000, Hard: 1500}}
		}, "1000\n1500\n"},
		{"oom_score_adj", "cat /proc/self/oom_score_adj", func(c *Config) { c.OomScoreAdj = ptr(321) }, "321\n"},
		{"umask", "umask", func(c *Config) { c.Umask = ptr(uint32(0o027)) }, "0027\n"},
		{"group_add by name and number", "id -G", func(c *Config) { c.Process.GroupAdd = []string{"staff", "4242"} }, "0 50 4242\n"},
		{"pid host sees the host's PID 1", "cat /proc/1/comm", func(c *Config) { c.PID = "host" }, readFile(t, "/proc/1/comm")},
		{"ipc host shares the host's IPC namespace", "readlink /proc/self/ns/ipc", func(c *Config) {
			c.IPC, c.ShmSource = "host", "/dev/shm"
		}, readlink("/proc/self/ns/ipc") + "\n"},
		{"uts host has the host's hostname", "hostname", func(c *Config) { c.UTSHost, c.Hostname = true, "" }, readFile(t, "/proc/sys/kernel/hostname")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, "sh", "-c", tc.cmd)
			tc.setup(&cfg)
			out, errOut, code := run(t, m, cfg)
			if out != tc.want || code != 0 {
				t.Errorf("%s: %q (stderr %q, exit %d), want %q", tc.cmd, out, errOut, code, tc.want)
			}
		})
	}
}

func TestCPUBandwidthReachesTheCgroup(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cfg := config(t, "sleep", "100")
	cfg.Resources = runtime.Resources{CPUQuota: 30000, CPUPeriod: 60000}
	c := start(t, m, cfg)
	files := map[string]string{"cpu/cpu.cfs_quota_us": "30000", "cpu/cpu.cfs_period_us": "60000"}
	if isCgroup2() {
		files = map[string]string{"cpu.max": "30000 60000"}
	}
	for file, want := range files {
		dir, name := filepath.Split(file)
		p := filepath.Join("/sys/fs/cgroup", dir, "comp", c.ID(), name)
		if got := strings.TrimSpace(readFile(t, p)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The cgroup knobs as the container's cgroup files show them, on cgroup v1 (v2 has its own
// files for some and refuses the others in CheckHost).
func TestCgroupKnobsReachTheCgroupFiles(t *testing.T) {
	requireRoot(t)
	if isCgroup2() {
		t.Skip("the files checked are cgroup v1's")
	}
	dev, major, minor := testBlockDevice(t)
	m := newManager(t)
	cfg := config(t, "sleep", "100")
	swappiness := int64(7)
	cfg.Resources = runtime.Resources{
		MemorySwappiness: &swappiness,
		Blkio:            runtime.Blkio{DeviceReadBps: []runtime.ThrottleDevice{{Path: dev, Rate: 1 << 20}}, DeviceWriteIOps: []runtime.ThrottleDevice{{Path: dev, Rate: 50}}},
	}
	cfg.DeviceCgroupRules = []string{"c 42:* rm"}
	if err := CheckHost(runtime.ContainerSpec{Resources: cfg.Resources, DeviceCgroupRules: cfg.DeviceCgroupRules}); err != nil {
		t.Fatalf("CheckHost() = %v", err)
	}
	c := start(t, m, cfg)
	devNum := strconv.FormatInt(major, 10) + ":" + strconv.FormatInt(minor, 10)
	for file, want := range map[string]string{
		"memory/memory.swappiness":               "7",
		"blkio/blkio.throttle.read_bps_device":   devNum + " 1048576",
		"blkio/blkio.throttle.write_iops_device": devNum + " 50",
		"devices/devices.list":                   "c 42:* rm",
	} {
		dir, name := filepath.Split(file)
		got := readFile(t, filepath.Join("/sys/fs/cgroup", dir, "comp", c.ID(), name))
		if !slices.Contains(strings.Split(strings.TrimSpace(got), "\n"), want) {
			t.Errorf("%s = %q, want a line %q", file, got, want)
		}
	}
}

// A private cgroup namespace, and a cgroup_parent, which the container's cgroup is made in.
func TestCgroupNamespaceAndParent(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	parent := "/comp-test-parent-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() {
		for _, mnt := range cgroupMounts() {
			_ = unix.Rmdir(filepath.Join(mnt, parent))
		}
	})
	cfg := config(t, "sh", "-c", "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup")
	cfg.CgroupNS, cfg.CgroupParent = "private", parent
	out, errOut, code := run(t, m, cfg)
	hostNS, err := os.Readlink("/proc/self/ns/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(out, "\n", 2)
	if code != 0 || len(lines) < 2 || lines[0] == hostNS || !strings.HasPrefix(lines[0], "cgroup:[") {
		t.Fatalf("cgroup namespace %q (stderr %q, exit %d), want one of its own (the host's is %s)", out, errOut, code, hostNS)
	}
	// From inside its own namespace, the container's cgroup is its root.
	if strings.Contains(lines[1], parent) {
		t.Errorf("/proc/self/cgroup inside a private cgroup namespace shows the host's path:\n%s", lines[1])
	}
	cfg = config(t, "sleep", "100")
	cfg.CgroupParent = parent
	c := start(t, m, cfg)
	for _, sub := range []string{"pids", "memory"} {
		if isCgroup2() {
			sub = ""
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", sub, parent, c.ID())); err != nil {
			t.Errorf("the container's cgroup is not under cgroup_parent %s: %v", parent, err)
		}
	}
}

// Real-time CPU time comes from a cgroup_parent that has some to give (cgroup v1 with
// CONFIG_RT_GROUP_SCHED only).
func TestRealtimeFromACgroupParentWithBudget(t *testing.T) {
	requireRoot(t)
	dir, err := cgroups.FindCgroupMountpoint("", "cpu")
	if isCgroup2() || err != nil || !fileExists(filepath.Join(dir, "cpu.rt_runtime_us")) {
		t.Skip("no real-time group scheduling on this host")
	}
	m := newManager(t)
	parent := "/comp-test-rt-" + strconv.Itoa(os.Getpid())
	if err := os.Mkdir(filepath.Join(dir, parent), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, mnt := range cgroupMounts() {
			_ = unix.Rmdir(filepath.Join(mnt, parent))
		}
	})
	spec := runtime.ContainerSpec{CgroupParent: parent, Resources: runtime.Resources{CPURealtimeRuntime: 10000, CPURealtimePeriod: 1000000}}
	if err := CheckHost(spec); err == nil || !strings.Contains(err.Error(), "give it at least 10000") {
		t.Errorf("CheckHost() with a parent of no budget = %v, want the fix", err)
	}
	if err := os.WriteFile(filepath.Join(dir, parent, "cpu.rt_runtime_us"), []byte("20000"), 0o644); err != nil {
		t.Skipf("cannot give the test cgroup real-time time: %v", err)
	}
	if err := CheckHost(spec); err != nil {
		t.Fatalf("CheckHost() = %v", err)
	}
	cfg := config(t, "sleep", "100")
	cfg.CgroupParent, cfg.Resources = parent, spec.Resources
	c := start(t, m, cfg)
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, parent, c.ID(), "cpu.rt_runtime_us"))); got != "10000" {
		t.Errorf("cpu.rt_runtime_us = %q, want 10000", got)
	}
}
