package container

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/comp-dev/comp/runtime"
	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// defaultShmSize is Docker's /dev/shm size.
const defaultShmSize = 64 << 20

// cgroupParent holds every container's cgroup: /comp/<id> in each hierarchy.
const cgroupParent = "/comp"

// defaultCapabilities is Docker's default capability set.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Docker's masked and read-only paths (Docker 28).
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// security is Config.SecurityOpt parsed.
type security struct {
	noNewPrivileges bool
	seccomp         string // "" (default profile), "unconfined" or a profile file
}

// CheckSecurityOpt refuses the security_opt values the embedded runtime cannot apply (see
// Config.SecurityOpt), without starting anything: comp checks them before it creates anything.
func CheckSecurityOpt(opts []string) error {
	_, err := parseSecurityOpt(opts)
	if err != nil {
		return runtime.Classify(runtime.ErrNotImplemented, err)
	}
	return nil
}

func parseSecurityOpt(opts []string) (security, error) {
	var s security
	for _, opt := range opts {
		key, value, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			key, value, hasValue = strings.Cut(opt, ":")
		}
		switch key {
		case "no-new-privileges":
			s.noNewPrivileges = true
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					return s, fmt.Errorf("security_opt %q: %w", opt, err)
				}
				s.noNewPrivileges = b
			}
		case "seccomp":
			if value == "" {
				return s, fmt.Errorf("security_opt %q: a profile or unconfined is needed", opt)
			}
			s.seccomp = value
		case "apparmor", "label":
			// Neither AppArmor nor SELinux is applied by this runtime; accept Docker's
			// "unconfined"/"disable" forms, which ask for nothing.
			if value != "unconfined" && value != "disable" && value != "" {
				return s, fmt.Errorf("security_opt %q: not supported by the embedded runtime", opt)
			}
		default:
			return s, fmt.Errorf("security_opt %q: not supported by the embedded runtime", opt)
		}
	}
	return s, nil
}

// buildSpec assembles the OCI runtime spec of cfg with Docker's defaults. user is the resolved
// process user; args is the process's command line (after Config.Init wrapping).
func buildSpec(cfg *Config, user specs.User, args []string, initBinary string) (*specs.Spec, error) {
	sec, err := parseSecurityOpt(cfg.SecurityOpt)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	capList, err := capabilities(cfg)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	hostname := cfg.Hostname
	if hostname == "" && cfg.Network == "host" && !cfg.UTSHost {
		hostname, _ = os.Hostname()
	}
	if cfg.UTSHost && (hostname != "" || cfg.Domainname != "") {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, errNoHostname)
	}
	res, err := resources(cfg.Resources)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	cgroupsPath := path.Join(cgroupParent, cfg.ID)
	if cfg.CgroupParent != "" {
		cgroupsPath = path.Join(cfg.CgroupParent, cfg.ID)
	}
	spec := &specs.Spec{
		Version:    specs.Version,
		Root:       &specs.Root{Path: cfg.Rootfs, Readonly: cfg.ReadOnly},
		Hostname:   hostname,
		Domainname: cfg.Domainname,
		Process: &specs.Process{
			Terminal: cfg.Process.Tty,
			User:     user,
			Args:     args,
			Env:      cfg.Process.Env,
			Cwd:      cfg.Process.Cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: capList, Permitted: capList, Effective: capList,
			},
			NoNewPrivileges: sec.noNewPrivileges,
			OOMScoreAdj:     cfg.OomScoreAdj,
		},
		Annotations: cfg.Annotations,
		Mounts:      mounts(cfg, initBinary),
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces:  namespaces(cfg),
			Resources:   res,
			Sysctl:      cfg.Sysctls,
		},
	}
	spec.Process.User.Umask = cfg.Umask
	if cfg.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, err
		}
		spec.Linux.Devices = devs
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		spec.Linux.MaskedPaths = maskedPaths
		spec.Linux.ReadonlyPaths = readonlyPaths
		spec.Linux.Resources.Devices = defaultDeviceRules()
		for _, r := range cfg.DeviceCgroupRules {
			rule, err := deviceRule(r)
			if err != nil {
				return nil, runtime.Classify(runtime.ErrInvalidArgument, err)
			}
			spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, rule)
		}
		if sec.seccomp != "unconfined" && SeccompSupported() {
			if spec.Linux.Seccomp, err = seccompProfile(sec.seccomp, spec); err != nil {
				return nil, err
			}
		}
	}
	if !cfg.Privileged && sec.seccomp != "" && sec.seccomp != "unconfined" && !SeccompSupported() {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("security_opt seccomp=%s: seccomp is not supported by this comp binary or kernel", sec.seccomp))
	}
	if err := applyDevices(spec, cfg); err != nil {
		return nil, err
	}
	return spec, nil
}

func namespaces(cfg *Config) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if !cfg.UTSHost {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	// "" and "none" are namespaces of the container's own, "host" none at all, else a path.
	for _, n := range []struct {
		mode string
		typ  specs.LinuxNamespaceType
	}{{cfg.PID, specs.PIDNamespace}, {cfg.IPC, specs.IPCNamespace}} {
		switch n.mode {
		case "", "none":
			ns = append(ns, specs.LinuxNamespace{Type: n.typ})
		case "host":
		default:
			ns = append(ns, specs.LinuxNamespace{Type: n.typ, Path: n.mode})
		}
	}
	switch cfg.Network {
	case "host":
	case "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: cfg.Network})
	}
	// Docker's default: a private cgroup namespace on cgroup v2, the host's on v1.
	if cfg.CgroupNS == "private" || cfg.CgroupNS == "" && cgroups.IsCgroup2UnifiedMode() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns
}

// mounts returns Docker's default mounts, /dev/shm, the tmpfs mounts, the bind mounts and the
// comp-init binary; a user mount replaces a default one at the same target, and parents are
// mounted before what they contain.
func mounts(cfg *Config, initBinary string) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgroupOpts := []string{"ro", "nosuid", "noexec", "nodev"}
	if cfg.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev"}
		cgroupOpts = []string{"nosuid", "noexec", "nodev"}
	}
	shm := cfg.Resources.ShmSize
	if shm <= 0 {
		shm = defaultShmSize
	}
	defaults := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgroupOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	switch {
	case cfg.ShmSource != "":
		// The host's or a joined container's: what its IPC namespace's processes share.
		defaults = append(defaults, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: cfg.ShmSource, Options: []string{"rbind", "rprivate"}})
	case cfg.IPC != "none":
		defaults = append(defaults, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}})
	}

	var user []specs.Mount
	for target, options := range cfg.Tmpfs {
		opts := []string{"nosuid", "nodev", "noexec"}
		for o := range strings.SplitSeq(options, ",") {
			if o = strings.TrimSpace(o); o != "" {
				opts = append(opts, o)
			}
		}
		user = append(user, specs.Mount{Destination: path.Clean(target), Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	for _, m := range cfg.Mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		user = append(user, specs.Mount{Destination: path.Clean(m.Target), Type: "bind", Source: m.Source, Options: opts})
	}
	if initBinary != "" {
		user = append(user, specs.Mount{Destination: initPath, Type: "bind", Source: initBinary, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	taken := map[string]bool{}
	for _, m := range user {
		taken[m.Destination] = true
	}
	var out []specs.Mount
	for _, m := range defaults {
		if !taken[m.Destination] {
			out = append(out, m)
		}
	}
	// Sort user mounts by depth, stably, so /a is mounted before /a/b.
	sort.SliceStable(user, func(i, j int) bool {
		if di, dj := depth(user[i].Destination), depth(user[j].Destination); di != dj {
			return di < dj
		}
		return user[i].Destination < user[j].Destination
	})
	return append(out, user...)
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func resources(r runtime.Resources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}
	if r.Memory > 0 || r.MemoryReservation > 0 || r.MemorySwap != 0 || r.OomKillDisable || r.MemorySwappiness != nil {
		m := &specs.LinuxMemory{}
		if r.Memory > 0 {
			m.Limit = ptr(r.Memory)
		}
		if r.MemoryReservation > 0 {
			m.Reservation = ptr(r.MemoryReservation)
		}
		// Swap is memory+swap on both cgroup versions (libcontainer converts for v2). As
		// Docker: unset with a memory limit allows as much swap as memory.
		switch {
		case r.MemorySwap > 0 || r.MemorySwap == -1:
			m.Swap = ptr(r.MemorySwap)
		case r.MemorySwap == 0 && r.Memory > 0 && swapAccounting():
			m.Swap = ptr(2 * r.Memory)
		}
		if r.OomKillDisable {
			m.DisableOOMKiller = ptr(true)
		}
		if r.MemorySwappiness != nil {
			m.Swappiness = ptr(uint64(*r.MemorySwappiness))
		}
		out.Memory = m
	}
	if r.NanoCPUs > 0 || r.CPUShares > 0 || r.CPUSet != "" || r.CPUQuota != 0 || r.CPUPeriod != 0 ||
		r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0 {
		c := &specs.LinuxCPU{Cpus: r.CPUSet}
		if r.NanoCPUs > 0 {
			const period = 100000 // µs, Docker's
			c.Period = ptr(uint64(period))
			c.Quota = ptr(r.NanoCPUs * period / 1e9)
		}
		if r.CPUPeriod != 0 {
			c.Period = ptr(uint64(r.CPUPeriod))
		}
		if r.CPUQuota != 0 {
			c.Quota = ptr(r.CPUQuota)
		}
		if r.CPURealtimePeriod != 0 {
			c.RealtimePeriod = ptr(uint64(r.CPURealtimePeriod))
		}
		if r.CPURealtimeRuntime != 0 {
			c.RealtimeRuntime = ptr(r.CPURealtimeRuntime)
		}
		if r.CPUShares > 0 {
			c.Shares = ptr(uint64(r.CPUShares))
		}
		out.CPU = c
	}
	if r.PidsLimit > 0 {
		out.Pids = &specs.LinuxPids{Limit: ptr(r.PidsLimit)}
	}
	bio, err := blockIO(r.Blkio)
	if err != nil {
		return nil, err
	}
	out.BlockIO = bio
	return out, nil
}

// defaultDeviceRules is Docker's device cgroup: deny all, then the default devices (specconv
// appends its own defaults: null, zero, full, tty, random, urandom, ptys, tun, mknod).
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(major, minor int64, allow bool) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: ptr(major), Minor: ptr(minor), Access: "rwm"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule(1, 5, true), rule(1, 3, true), rule(1, 9, true), rule(1, 8, true),
		rule(5, 0, true), rule(5, 1, true), rule(10, 229, false),
	}
}

// capabilities applies CapAdd and CapDrop to Docker's default set (all capabilities when
// privileged), as Docker does: "ALL" in CapAdd starts from every capability, "ALL" in CapDrop
// from none; then the named ones are dropped and added.
func capabilities(cfg *Config) ([]string, error) {
	all := allCapabilities()
	if cfg.Privileged {
		return all, nil
	}
	known := map[string]bool{}
	for _, c := range all {
		known[c] = true
	}
	norm := func(list []string) (names []string, hasAll bool, err error) {
		for _, c := range list {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c == "ALL" {
				hasAll = true
				continue
			}
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !known[c] {
				return nil, false, fmt.Errorf("unknown capability %q", c)
			}
			names = append(names, c)
		}
		return names, hasAll, nil
	}
	add, addAll, err := norm(cfg.CapAdd)
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := norm(cfg.CapDrop)
	if err != nil {
		return nil, err
	}
	var base []string
	switch {
	case addAll:
		base = all
	case dropAll:
	default:
		base = defaultCapabilities
	}
	set := map[string]bool{}
	for _, c := range base {
		set[c] = true
	}
	for _, c := range drop {
		delete(set, c)
	}
	for _, c := range add {
		set[c] = true
	}
	out := make([]string, 0, len(set))
	for _, c := range all {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// allCapabilities lists every capability this process may grant, as CAP_NAME: those in its
// bounding set (root here may lack some, CAP_SYS_RESOURCE for one, and asking for it fails).
var allCapabilities = sync.OnceValue(func() []string {
	known := capability.ListKnown()
	last, err := capability.LastCap()
	if err != nil {
		last = known[len(known)-1]
	}
	own, err := capability.NewPid2(0)
	if err == nil {
		err = own.Load()
	}
	var out []string
	for _, c := range known {
		if c > last || (err == nil && !own.Get(capability.BOUNDING, c)) {
			continue
		}
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
})

func ptr[T any](v T) *T { return &v }
