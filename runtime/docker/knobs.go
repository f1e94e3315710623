package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

// setKnobs passes spec's kernel knobs (namespaces, cgroup placement, CPU bandwidth, block
// I/O, …) to the engine as Docker Compose does; checkKnobs has refused what the engine would
// drop or cannot take.
func (r *Runtime) setKnobs(host *container.HostConfig, spec runtime.ContainerSpec) {
	host.UTSMode = container.UTSMode(spec.UTS)
	host.CgroupnsMode = container.CgroupnsMode(spec.Cgroup)
	host.UsernsMode = container.UsernsMode(spec.UsernsMode)
	host.StorageOpt = spec.StorageOpt
	host.Runtime = spec.OCIRuntime
	host.Isolation = container.Isolation(spec.Isolation)
	if len(spec.Annotations) > 0 {
		host.Annotations = spec.Annotations
	}
	if spec.OomScoreAdj != nil {
		host.OomScoreAdj = *spec.OomScoreAdj
	}
	res := &host.Resources
	res.CgroupParent = spec.CgroupParent
	res.DeviceCgroupRules = spec.DeviceCgroupRules
	rs := spec.Resources
	res.CPUPeriod = rs.CPUPeriod
	res.CPUQuota = rs.CPUQuota
	res.CPURealtimePeriod = rs.CPURealtimePeriod
	res.CPURealtimeRuntime = rs.CPURealtimeRuntime
	res.MemorySwappiness = rs.MemorySwappiness
	res.BlkioWeight = rs.Blkio.Weight
	for _, d := range rs.Blkio.WeightDevice {
		res.BlkioWeightDevice = append(res.BlkioWeightDevice, &blkiodev.WeightDevice{Path: d.Path, Weight: d.Weight})
	}
	throttle := func(in []runtime.ThrottleDevice) []*blkiodev.ThrottleDevice {
		var out []*blkiodev.ThrottleDevice
		for _, d := range in {
			out = append(out, &blkiodev.ThrottleDevice{Path: d.Path, Rate: d.Rate})
		}
		return out
	}
	res.BlkioDeviceReadBps = throttle(rs.Blkio.DeviceReadBps)
	res.BlkioDeviceReadIOps = throttle(rs.Blkio.DeviceReadIOps)
	res.BlkioDeviceWriteBps = throttle(rs.Blkio.DeviceWriteBps)
	res.BlkioDeviceWriteIOps = throttle(rs.Blkio.DeviceWriteIOps)
}

// checkKnobs refuses the kernel knobs of spec that the engine has no field for, or would
// drop on Linux with no more than a warning.
func (r *Runtime) checkKnobs(spec runtime.ContainerSpec) error {
	notImplemented := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
	}
	switch {
	case spec.Umask != nil:
		return notImplemented("umask: Docker Engine has no umask setting for a container: remove umask and set it in the container's command (sh -c 'umask %03o; exec …'), or use --runtime embedded", *spec.Umask)
	case spec.Resources.CPUCount != 0:
		return notImplemented("cpu_count is a Windows-only option of Docker Engine: on Linux use cpus (or cpu_quota with cpu_period)")
	case spec.Resources.CPUPercent != 0:
		return notImplemented("cpu_percent is a Windows-only option of Docker Engine: on Linux use cpus (or cpu_quota with cpu_period)")
	case spec.Isolation != "" && spec.Isolation != "default":
		return notImplemented("isolation %q: Linux containers only have the default isolation: remove isolation", spec.Isolation)
	case len(spec.Annotations) > 0 && !r.apiAtLeast("1.43"):
		return notImplemented("annotations need Docker Engine API 1.43 (Docker 24) or newer; this engine speaks %s: remove annotations or upgrade Docker", r.cli.ClientVersion())
	case spec.Cgroup != "" && !r.apiAtLeast("1.41"):
		// Older engines ignore CgroupnsMode.
		return notImplemented("cgroup: %s needs Docker Engine API 1.41 (Docker 20.10) or newer; this engine speaks %s: remove cgroup or upgrade Docker", spec.Cgroup, r.cli.ClientVersion())
	case len(spec.StorageOpt) > 0:
		return r.checkStorageOpt()
	}
	return nil
}

// checkStorageOpt refuses storage_opt on an engine whose storage driver cannot take it:
// overlay2 takes a size only on xfs (mounted with pquota), and refuses it at create, after
// the project's other objects were made. An engine that does not answer is left to say so
// at create.
func (r *Runtime) checkStorageOpt() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := r.cli.Info(ctx)
	if err != nil || info.Driver != "overlay2" {
		return nil
	}
	for _, kv := range info.DriverStatus {
		if kv[0] == "Backing Filesystem" && kv[1] != "xfs" {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
				"storage_opt: this engine's overlay2 storage is on %s, and overlay2 takes storage options only on xfs mounted with pquota: remove storage_opt", kv[1]))
		}
	}
	return nil
}

// discardedSettings turns the engine's create warnings about settings it dropped ("Your
// kernel does not support Block I/O weight … Weight discarded.") into an error: comp never
// drops a setting silently.
func discardedSettings(warnings []string) error {
	var dropped []string
	for _, w := range warnings {
		// Not every "discarded" warning is a lost setting: ports with network_mode host are
		// meaningless there, and Compose users expect just the warning.
		if l := strings.ToLower(w); strings.Contains(l, "does not support") && strings.Contains(l, "discarded") {
			dropped = append(dropped, strings.TrimSpace(w))
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	return runtime.Classify(runtime.ErrNotImplemented, errors.New("the engine cannot apply every setting on this host: "+strings.Join(dropped, "; ")))
}
