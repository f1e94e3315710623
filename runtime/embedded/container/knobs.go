package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// This file holds the kernel knobs of issue 13 (ulimits, oom_score_adj, CPU bandwidth and
// real-time, swappiness, block I/O, device cgroup rules): their conversion to the OCI spec
// and libcontainer's config, and CheckHost, which refuses before anything is created what
// this host or this process cannot apply.

// ShmDir is where MountShm mounts a container's shareable /dev/shm, in the folder given to
// MountRootfs.
const ShmDir = "shm"

// MountShm mounts a tmpfs of size bytes (0: Docker's 64 MiB) at dir/shm, dir being the folder
// given to MountRootfs, and returns its path: the /dev/shm of a container whose IPC namespace
// others join (ipc: shareable), which they bind-mount too, as Docker does (a mount of another
// mount namespace cannot be bound). UnmountRootfs unmounts it.
func MountShm(dir string, size int64) (string, error) {
	if size <= 0 {
		size = defaultShmSize
	}
	p := filepath.Join(dir, ShmDir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("shm: %w", err)
	}
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, "mode=1777,size="+strconv.FormatInt(size, 10)); err != nil {
		return "", fmt.Errorf("mount shm %s: %w", p, err)
	}
	return p, nil
}

// libcontainerConfig converts spec, built from cfg, to libcontainer's config as `runc create`
// does (specconv), plus the rlimits, which runc converts in its own main package.
func libcontainerConfig(cfg *Config, spec *specs.Spec) (*configs.Config, error) {
	lcfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: cfg.ID, Spec: spec})
	if err != nil {
		return nil, err
	}
	if lcfg.Rlimits, err = rlimits(cfg.Ulimits); err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	return lcfg, nil
}

// rlimits converts ulimits (Docker's names: nofile, nproc, core, …; -1 is unlimited) to
// libcontainer's, with go-units' table of names.
func rlimits(ulimits []runtime.Ulimit) ([]configs.Rlimit, error) {
	var out []configs.Rlimit
	for _, u := range ulimits {
		if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
			return nil, fmt.Errorf("ulimits %s: the soft limit %d is above the hard limit %d", u.Name, u.Soft, u.Hard)
		}
		rl, err := (&units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}).GetRlimit()
		if err != nil {
			return nil, fmt.Errorf("ulimits %s: %w", u.Name, err)
		}
		// -1 is RLIM_INFINITY, as the conversion to uint64 makes it.
		out = append(out, configs.Rlimit{Type: rl.Type, Soft: rl.Soft, Hard: rl.Hard})
	}
	return out, nil
}

// blockIO converts b, resolving each device path to its major:minor; nil when b sets nothing.
func blockIO(b runtime.Blkio) (*specs.LinuxBlockIO, error) {
	if b.IsZero() {
		return nil, nil
	}
	out := &specs.LinuxBlockIO{}
	if b.Weight != 0 {
		out.Weight = ptr(b.Weight)
	}
	for _, d := range b.WeightDevice {
		major, minor, err := blockDevice(d.Path)
		if err != nil {
			return nil, fmt.Errorf("blkio_config.weight_device: %w", err)
		}
		wd := specs.LinuxWeightDevice{Weight: ptr(d.Weight)}
		wd.Major, wd.Minor = major, minor
		out.WeightDevice = append(out.WeightDevice, wd)
	}
	for _, t := range []struct {
		key  string
		in   []runtime.ThrottleDevice
		dest *[]specs.LinuxThrottleDevice
	}{
		{"device_read_bps", b.DeviceReadBps, &out.ThrottleReadBpsDevice},
		{"device_read_iops", b.DeviceReadIOps, &out.ThrottleReadIOPSDevice},
		{"device_write_bps", b.DeviceWriteBps, &out.ThrottleWriteBpsDevice},
		{"device_write_iops", b.DeviceWriteIOps, &out.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.in {
			major, minor, err := blockDevice(d.Path)
			if err != nil {
				return nil, fmt.Errorf("blkio_config.%s: %w", t.key, err)
			}
			td := specs.LinuxThrottleDevice{Rate: d.Rate}
			td.Major, td.Minor = major, minor
			*t.dest = append(*t.dest, td)
		}
	}
	return out, nil
}

// blockDevice returns the major and minor numbers of the block device at path.
func blockDevice(path string) (major, minor int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, fmt.Errorf("device %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, fmt.Errorf("device %s is not a block device", path)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}

// deviceRule parses a device cgroup rule as Docker writes it: "TYPE MAJOR:MINOR ACCESS", TYPE
// one of a, b, c, MAJOR and MINOR a number or *, ACCESS made of r, w and m.
func deviceRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := func(why string) (specs.LinuxDeviceCgroup, error) {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("device_cgroup_rules %q: %s (want e.g. \"c 1:3 rwm\" or \"b 8:* r\")", rule, why)
	}
	f := strings.Fields(rule)
	if len(f) != 3 {
		return bad("three fields are needed")
	}
	out := specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Access: f[2]}
	if f[0] != "a" && f[0] != "b" && f[0] != "c" {
		return bad("the type must be a, b or c")
	}
	majorS, minorS, ok := strings.Cut(f[1], ":")
	if !ok {
		return bad("MAJOR:MINOR is needed")
	}
	for _, n := range []struct {
		s    string
		dest **int64
	}{{majorS, &out.Major}, {minorS, &out.Minor}} {
		if n.s == "*" {
			continue
		}
		v, err := strconv.ParseInt(n.s, 10, 64)
		if err != nil || v < 0 {
			return bad("a device number must be a number or *")
		}
		*n.dest = ptr(v)
	}
	if f[2] == "" || strings.Trim(f[2], "rwm") != "" {
		return bad("the access must be made of r, w and m")
	}
	return out, nil
}

// CheckHost refuses the kernel knobs of spec that this host's kernel and cgroups, or this
// process's privileges, cannot apply: comp calls it before it creates anything, where the
// kernel would refuse them only at the container's start (or, for some, drop them).
func CheckHost(spec runtime.ContainerSpec) error {
	notImplemented := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
	}
	invalid := func(err error) error { return runtime.Classify(runtime.ErrInvalidArgument, err) }

	rls, err := rlimits(spec.Ulimits)
	if err != nil {
		return invalid(err)
	}
	for i, rl := range rls {
		var own unix.Rlimit
		if unix.Getrlimit(rl.Type, &own) == nil && rl.Hard > own.Max && !hasCapability(capability.CAP_SYS_RESOURCE) {
			return notImplemented("ulimits %s: the hard limit %d is above comp's own (%d), and raising it needs CAP_SYS_RESOURCE, which comp does not have here: lower it to %d or less",
				spec.Ulimits[i].Name, spec.Ulimits[i].Hard, own.Max, own.Max)
		}
	}
	if adj := spec.OomScoreAdj; adj != nil {
		if *adj < -1000 || *adj > 1000 {
			return invalid(fmt.Errorf("oom_score_adj %d: it must be between -1000 and 1000", *adj))
		}
		if own := ownOomScoreAdj(); *adj < own && !hasCapability(capability.CAP_SYS_RESOURCE) {
			return notImplemented("oom_score_adj %d: lowering it below comp's own (%d) needs CAP_SYS_RESOURCE, which comp does not have here: use %d or more", *adj, own, own)
		}
	}
	if spec.Umask != nil && *spec.Umask > 0o777 {
		return invalid(fmt.Errorf("umask %o: it must be between 0000 and 0777", *spec.Umask))
	}
	for _, r := range spec.DeviceCgroupRules {
		if _, err := deviceRule(r); err != nil {
			return invalid(err)
		}
	}
	switch spec.Cgroup {
	case "", "host", "private":
	default:
		return invalid(fmt.Errorf("cgroup %q: it must be host or private", spec.Cgroup))
	}
	return checkResources(spec.Resources, spec.CgroupParent)
}

// checkResources refuses the CPU, memory and block I/O settings of r that the host's cgroups
// do not have; cgroupParent is the container's parent cgroup ("" for comp's own).
func checkResources(r runtime.Resources, cgroupParent string) error {
	notImplemented := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
	}
	invalid := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(format, args...))
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	switch {
	case r.CPUCount != 0:
		return notImplemented("cpu_count is a Windows-only option of Docker: on Linux use cpus (or cpu_quota with cpu_period)")
	case r.CPUPercent != 0:
		return notImplemented("cpu_percent is a Windows-only option of Docker: on Linux use cpus (or cpu_quota with cpu_period)")
	case r.NanoCPUs > 0 && (r.CPUQuota != 0 || r.CPUPeriod != 0):
		return invalid("cpus and cpu_quota/cpu_period cannot both be set (Docker refuses them too): keep one")
	case r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000):
		return invalid("cpu_period %d: it must be between 1000 and 1000000 µs", r.CPUPeriod)
	case r.CPUQuota > 0 && r.CPUQuota < 1000:
		return invalid("cpu_quota %d: it must be at least 1000 µs", r.CPUQuota)
	case r.MemorySwappiness != nil && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100):
		return invalid("mem_swappiness %d: it must be between 0 and 100", *r.MemorySwappiness)
	case r.MemorySwappiness != nil && v2:
		return notImplemented("mem_swappiness: cgroup v2, which this host uses, has no per-container swappiness: remove mem_swappiness")
	}
	if r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0 {
		if err := checkRealtime(r, cgroupParent, v2); err != nil {
			return err
		}
	}
	b := r.Blkio
	if b.IsZero() {
		return nil
	}
	if b.Weight != 0 && (b.Weight < 10 || b.Weight > 1000) {
		return invalid("blkio_config.weight %d: it must be between 10 and 1000", b.Weight)
	}
	for _, d := range b.WeightDevice {
		if d.Weight < 10 || d.Weight > 1000 {
			return invalid("blkio_config.weight_device %s: the weight %d must be between 10 and 1000", d.Path, d.Weight)
		}
	}
	if _, err := blockIO(b); err != nil {
		return runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	weights := b.Weight != 0 || len(b.WeightDevice) > 0
	throttles := len(b.DeviceReadBps)+len(b.DeviceReadIOps)+len(b.DeviceWriteBps)+len(b.DeviceWriteIOps) > 0
	if v2 {
		if !v2Controller("io") {
			return notImplemented("blkio_config: this host's cgroup v2 has no io controller: remove blkio_config")
		}
		return nil
	}
	dir, err := cgroups.FindCgroupMountpoint("", "blkio")
	if err != nil {
		return notImplemented("blkio_config: this host has no blkio cgroup: remove blkio_config")
	}
	if weights && !blkioWeights(dir) {
		return notImplemented("blkio_config.weight and weight_device: this host's block I/O cgroup has no weight control (it needs the BFQ I/O scheduler): remove them; device_read_bps and the other throttles work")
	}
	if throttles && !fileExists(filepath.Join(dir, "blkio.throttle.read_bps_device")) {
		return notImplemented("blkio_config device rates: this host's blkio cgroup has no throttling: remove them")
	}
	return nil
}

// checkRealtime refuses real-time CPU bandwidth that the host's cgroups cannot grant: cgroup
// v2 has none, and on v1 the kernel gives a cgroup no more real-time time than its parent
// has, which is none unless someone gave it some (Docker needs --cpu-rt-runtime for it).
func checkRealtime(r runtime.Resources, cgroupParent string, v2 bool) error {
	notImplemented := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
	}
	if v2 {
		return notImplemented("cpu_rt_runtime and cpu_rt_period: cgroup v2, which this host uses, has no real-time CPU bandwidth control: remove them")
	}
	dir, err := cgroups.FindCgroupMountpoint("", "cpu")
	if err != nil || !fileExists(filepath.Join(dir, "cpu.rt_runtime_us")) {
		return notImplemented("cpu_rt_runtime and cpu_rt_period: this host's kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED): remove them")
	}
	if r.CPURealtimeRuntime <= 0 {
		return nil
	}
	if cgroupParent == "" {
		return notImplemented("cpu_rt_runtime: the cgroup comp makes containers in has no real-time CPU time to give: set cgroup_parent to a cgroup whose cpu.rt_runtime_us is at least %d", r.CPURealtimeRuntime)
	}
	parent := cgroupParent
	if !filepath.IsAbs(parent) {
		own, err := cgroups.GetOwnCgroup("cpu")
		if err != nil {
			return fmt.Errorf("cpu_rt_runtime: %w", err)
		}
		parent = filepath.Join(own, parent)
	}
	file := filepath.Join(dir, parent, "cpu.rt_runtime_us")
	b, err := os.ReadFile(file)
	have, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || perr != nil {
		return notImplemented("cpu_rt_runtime %d: cgroup_parent %s has no real-time CPU time to give (%s cannot be read): make it and give it at least %d µs there",
			r.CPURealtimeRuntime, cgroupParent, file, r.CPURealtimeRuntime)
	}
	if have < r.CPURealtimeRuntime {
		return notImplemented("cpu_rt_runtime %d: cgroup_parent %s has %d µs of real-time CPU time to give: give it at least %d in %s",
			r.CPURealtimeRuntime, cgroupParent, have, r.CPURealtimeRuntime, file)
	}
	return nil
}

// blkioWeights reports whether the blkio hierarchy at dir has weights: CFQ's blkio.weight,
// or BFQ's blkio.bfq.weight, which the kernel shows in child cgroups only; the root shows
// BFQ's statistics (blkio.bfq.io_serviced) once its policy is loaded. (Docker Engine looks
// for blkio.weight alone, and drops a weight on a BFQ-only kernel.)
func blkioWeights(dir string) bool {
	return fileExists(filepath.Join(dir, "blkio.weight")) || fileExists(filepath.Join(dir, "blkio.bfq.weight")) ||
		fileExists(filepath.Join(dir, "blkio.bfq.io_serviced"))
}

// v2Controller reports whether the cgroup v2 root enables controller name.
func v2Controller(name string) bool {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+name+" ")
}

// ownOomScoreAdj is this process's oom_score_adj (0 when it cannot be read).
func ownOomScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return v
}

// hasCapability reports whether this process has c in its effective set.
func hasCapability(c capability.Cap) bool {
	caps, err := capability.NewPid2(0)
	if err == nil {
		err = caps.Load()
	}
	return err == nil && caps.Get(capability.EFFECTIVE, c)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// errNoHostname is the conflict of a hostname with the host's UTS namespace.
var errNoHostname = errors.New("a hostname cannot be set in the host's UTS namespace (uts: host): remove hostname or uts")
