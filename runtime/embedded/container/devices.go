package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/devices"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/comp-dev/comp/runtime"
)

// CDISpecDirsEnv names the variable that overrides where CDI specs are read from: folders
// separated by ':', in increasing priority (a later folder's device wins), as cdi's
// WithSpecDirs takes them. Unset, they are cdi's defaults: /etc/cdi, then /var/run/cdi.
const CDISpecDirsEnv = "COMP_CDI_SPEC_DIRS"

// CDISpecDirs are the folders CDI specs are read from: CDISpecDirsEnv's, else cdi's defaults.
func CDISpecDirs() []string {
	if v := os.Getenv(CDISpecDirsEnv); v != "" {
		return filepath.SplitList(v)
	}
	return slices.Clone(cdi.DefaultSpecDirs)
}

// gpuClasses are the CDI vendor/class of each GPU driver Docker Engine knows; "" (any GPU
// driver) tries them in Docker's order.
var gpuClasses = map[string][]string{
	"":       {"nvidia.com/gpu", "amd.com/gpu"},
	"nvidia": {"nvidia.com/gpu"},
	"amd":    {"amd.com/gpu"},
}

// CheckDevices says whether a container with devs and reqs can start on this host, without
// changing anything: every device mapping's source is a device node (or a folder holding some)
// and every request is satisfied by the CDI specs in specDirs. Its errors start with the
// compose key of the device ("devices: …", "gpus: …").
func CheckDevices(devs []runtime.DeviceMapping, reqs []runtime.DeviceRequest, specDirs []string) error {
	for _, d := range devs {
		if _, _, err := hostDeviceNodes(d); err != nil {
			return err
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	_, err := resolveCDI(newCDICache(specDirs), specDirs, reqs)
	return err
}

func newCDICache(specDirs []string) *cdi.Cache {
	// No auto-refresh: that would watch the folders with a goroutine for the life of the
	// process; a fresh cache reads them as they are now.
	cache, _ := cdi.NewCache(cdi.WithSpecDirs(specDirs...), cdi.WithAutoRefresh(false)) // never fails
	return cache
}

// applyDevices adds cfg's device nodes and their cgroup rules to spec, then applies the
// container edits of the CDI devices its requests resolve to (device nodes, environment,
// mounts, hooks), as a CDI-enabled runtime does.
func applyDevices(spec *specs.Spec, cfg *Config) error {
	for _, d := range cfg.Devices {
		nodes, rules, err := hostDeviceNodes(d)
		if err != nil {
			return runtime.Classify(runtime.ErrInvalidArgument, err)
		}
		for _, n := range nodes {
			spec.Linux.Devices = slices.DeleteFunc(spec.Linux.Devices, func(o specs.LinuxDevice) bool { return o.Path == n.Path })
			spec.Linux.Devices = append(spec.Linux.Devices, n)
		}
		spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, rules...)
	}
	if len(cfg.DeviceRequests) == 0 {
		return nil
	}
	cache := newCDICache(cfg.CDISpecDirs)
	names, err := resolveCDI(cache, cfg.CDISpecDirs, cfg.DeviceRequests)
	if err != nil {
		return err
	}
	// The edits replace environment entries in place: keep the caller's slice as it was.
	spec.Process.Env = slices.Clone(spec.Process.Env)
	if _, err := cache.InjectDevices(spec, names...); err != nil {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("CDI devices %s: %w", strings.Join(names, ", "), err))
	}
	return nil
}

// hostDeviceNodes returns the device nodes d makes in the container and their cgroup rules,
// as Docker's --device does: the device at d.Source (a symbolic link followed) at d.Target, or
// every device under the folder d.Source at the same place under d.Target.
func hostDeviceNodes(d runtime.DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	perms := d.Permissions
	if perms == "" {
		perms = "rwm"
	}
	if !validPermissions(perms) {
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("devices: %s: permissions %q are not a combination of r, w and m", d.Source, d.Permissions))
	}
	if !path.IsAbs(d.Target) {
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("devices: %s: the target %q is not an absolute path", d.Source, d.Target))
	}
	src, err := filepath.EvalSymlinks(d.Source)
	if err != nil {
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("devices: %s: %w", d.Source, unwrapPath(err)))
	}
	var nodes []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	add := func(dev *devconfig.Device, target string) {
		mode := dev.FileMode
		t := string(rune(dev.Type))
		nodes = append(nodes, specs.LinuxDevice{
			Path: target, Type: t, Major: dev.Major, Minor: dev.Minor,
			FileMode: &mode, UID: ptr(dev.Uid), GID: ptr(dev.Gid),
		})
		if dev.Type != devconfig.FifoDevice { // the device cgroup knows only b and c
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: ptr(dev.Major), Minor: ptr(dev.Minor), Access: perms})
		}
	}
	dev, err := devices.DeviceFromPath(src, perms)
	switch {
	case err == nil:
		add(dev, path.Clean(d.Target))
		return nodes, rules, nil
	case !errors.Is(err, devices.ErrNotADevice):
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("devices: %s: %w", d.Source, unwrapPath(err)))
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("devices: %s is not a device node, nor a folder of them", d.Source))
	}
	_ = filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skipped, as Docker does
		}
		if dev, err := devices.DeviceFromPath(p, perms); err == nil {
			rel, _ := filepath.Rel(src, p)
			add(dev, path.Join(d.Target, filepath.ToSlash(rel)))
		}
		return nil
	})
	if len(nodes) == 0 {
		return nil, nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("devices: the folder %s holds no device node", d.Source))
	}
	return nodes, rules, nil
}

// validPermissions: one or more of r, w and m, each once, in any order (Docker's rule).
func validPermissions(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for i, c := range p {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(p[i+1:], c) {
			return false
		}
	}
	return true
}

// unwrapPath drops the *fs.PathError's repetition of the path the caller names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// resolveCDI turns device requests into the fully qualified names of the CDI devices that
// serve them, following Docker Engine's device drivers: a request of driver "cdi" names its
// devices; a GPU request (capability "gpu", driver "", "nvidia" or "amd") takes devices of
// the vendor's CDI class ("nvidia.com/gpu", as NVIDIA's toolkit writes its spec): device_ids
// by name (or index), count: all as CLASS=all when the spec has it (else every device of the
// class), count: N as the first N. A request no spec satisfies is an error naming the device.
func resolveCDI(cache *cdi.Cache, specDirs []string, reqs []runtime.DeviceRequest) ([]string, error) {
	known := cache.ListDevices()
	var names []string
	add := func(key string, name string) error {
		if !slices.Contains(known, name) {
			return runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("%s: CDI device %s is in no CDI spec%s", key, name, where(cache, specDirs)))
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	}
	for _, r := range reqs {
		switch {
		case r.Driver == runtime.DriverCDI:
			if r.Count != 0 || len(r.DeviceIDs) == 0 {
				return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
					"%s: driver cdi takes the CDI device names in device_ids (vendor.com/class=name), and no count", r.Key))
			}
			if len(r.Options) > 0 {
				return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s: driver cdi takes no options", r.Key))
			}
			for _, id := range r.DeviceIDs {
				if !parser.IsQualifiedName(id) {
					return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
						"%s: %q is not a fully qualified CDI device name (vendor.com/class=name)", r.Key, id))
				}
				if err := add(r.Key, id); err != nil {
					return nil, err
				}
			}
		case r.GPU():
			classes, ok := gpuClasses[r.Driver]
			if !ok {
				return nil, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
					"%s: GPU driver %q is not one the embedded runtime knows: it serves GPUs of NVIDIA's and AMD's CDI specs (driver nvidia, amd or none), and CDI devices of any vendor with driver cdi; or use --runtime docker", r.Key, r.Driver))
			}
			if len(r.Options) > 0 {
				return nil, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
					"%s: options are for a Docker Engine device driver, which the embedded runtime has not (it reads CDI specs): remove them, or use --runtime docker", r.Key))
			}
			picked, err := pickGPUs(r, classes, known, cache, specDirs)
			if err != nil {
				return nil, err
			}
			for _, name := range picked {
				if err := add(r.Key, name); err != nil {
					return nil, err
				}
			}
		default:
			return nil, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
				"%s: a request for capabilities %v (driver %q) is not one the embedded runtime can serve: it serves gpu requests and CDI devices (driver: cdi, device_ids: [vendor.com/class=name]); or use --runtime docker", r.Key, r.Capabilities, r.Driver))
		}
	}
	return names, nil
}

// pickGPUs chooses the CDI devices of a GPU request among the first of classes that has any.
func pickGPUs(r runtime.DeviceRequest, classes, known []string, cache *cdi.Cache, specDirs []string) ([]string, error) {
	if r.Count != 0 && len(r.DeviceIDs) > 0 {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s: count and device_ids cannot both be set", r.Key))
	}
	if r.Count == 0 && len(r.DeviceIDs) == 0 {
		return nil, nil
	}
	class := classes[0]
	var inClass []string // names after CLASS=, without "all"
	for _, c := range classes {
		inClass = inClass[:0]
		for _, n := range known {
			if name, ok := strings.CutPrefix(n, c+"="); ok && name != "all" {
				inClass = append(inClass, name)
			}
		}
		if len(inClass) > 0 {
			class = c
			break
		}
	}
	if len(r.DeviceIDs) > 0 {
		var out []string
		for _, id := range r.DeviceIDs {
			if !parser.IsQualifiedName(id) {
				id = class + "=" + id
			}
			out = append(out, id)
		}
		return out, nil
	}
	if len(inClass) == 0 {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
			"%s: no GPU: no CDI spec has a device of class %s%s; the vendor's toolkit writes one (nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml)",
			r.Key, strings.Join(classes, " or "), where(cache, specDirs)))
	}
	// Indexes in their order (0, 1, …, 10), then other names (UUIDs) in theirs.
	sort.SliceStable(inClass, func(i, j int) bool {
		a, errA := strconv.Atoi(inClass[i])
		b, errB := strconv.Atoi(inClass[j])
		switch {
		case errA == nil && errB == nil:
			return a < b
		case errA == nil || errB == nil:
			return errA == nil
		}
		return inClass[i] < inClass[j]
	})
	if r.Count == runtime.CountAll || r.Count < 0 {
		if slices.Contains(known, class+"=all") {
			return []string{class + "=all"}, nil
		}
		r.Count = len(inClass)
	}
	if r.Count > len(inClass) {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
			"%s: %d GPUs asked for, and the CDI specs have %d of class %s (%s)%s",
			r.Key, r.Count, len(inClass), class, strings.Join(inClass, ", "), where(cache, specDirs)))
	}
	out := make([]string, r.Count)
	for i := range out {
		out[i] = class + "=" + inClass[i]
	}
	return out, nil
}

// where names the folders looked in, the override and any spec that failed to load, for a
// message about a device not found.
func where(cache *cdi.Cache, specDirs []string) string {
	s := " (looked in " + strings.Join(specDirs, ", ") + "; " + CDISpecDirsEnv + " sets the folders"
	var bad []string
	for file, errs := range cache.GetErrors() {
		for _, err := range errs {
			if !errors.Is(err, fs.ErrNotExist) {
				bad = append(bad, file+": "+err.Error())
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		s += "; specs that failed to load: " + strings.Join(bad, "; ")
	}
	return s + ")"
}
