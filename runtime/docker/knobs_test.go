package docker

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/blkiodev"

	"github.com/comp-dev/comp/runtime"
)

func TestContainerConfigPassesKernelKnobs(t *testing.T) {
	r := offlineRuntime(t, "1.43")
	adj, swappiness := 500, int64(10)
	spec := runtime.ContainerSpec{
		Name: "p-web-1", Image: "busybox",
		UTS: "host", Cgroup: "private", CgroupParent: "/tenant", OomScoreAdj: &adj,
		DeviceCgroupRules: []string{"c 1:3 mr"}, UsernsMode: "host", StorageOpt: map[string]string{"size": "1G"},
		OCIRuntime: "runc", Annotations: map[string]string{"a": "b"}, Isolation: "default",
		GroupAdd: []string{"nobody", "1234"},
		Ulimits:  []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
		Resources: runtime.Resources{
			CPUPeriod: 50000, CPUQuota: 25000, CPURealtimePeriod: 1000000, CPURealtimeRuntime: 950000,
			MemorySwappiness: &swappiness,
			Blkio: runtime.Blkio{
				Weight:          300,
				WeightDevice:    []runtime.WeightDevice{{Path: "/dev/vda", Weight: 200}},
				DeviceReadBps:   []runtime.ThrottleDevice{{Path: "/dev/vda", Rate: 1 << 20}},
				DeviceReadIOps:  []runtime.ThrottleDevice{{Path: "/dev/vda", Rate: 100}},
				DeviceWriteBps:  []runtime.ThrottleDevice{{Path: "/dev/vda", Rate: 2 << 20}},
				DeviceWriteIOps: []runtime.ThrottleDevice{{Path: "/dev/vda", Rate: 200}},
			},
		},
	}
	if err := r.CheckContainerSpec(spec); err != nil {
		t.Fatalf("CheckContainerSpec() = %v, want every knob accepted on API 1.43", err)
	}
	_, host, err := r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if host.UTSMode != "host" || host.CgroupnsMode != "private" || host.CgroupParent != "/tenant" || host.OomScoreAdj != 500 ||
		host.UsernsMode != "host" || host.StorageOpt["size"] != "1G" || host.Runtime != "runc" || host.Annotations["a"] != "b" ||
		host.Isolation != "default" || !slices.Equal(host.DeviceCgroupRules, spec.DeviceCgroupRules) || !slices.Equal(host.GroupAdd, spec.GroupAdd) {
		t.Errorf("host config = %+v", host)
	}
	if host.CPUPeriod != 50000 || host.CPUQuota != 25000 || host.CPURealtimePeriod != 1000000 || host.CPURealtimeRuntime != 950000 ||
		host.MemorySwappiness == nil || *host.MemorySwappiness != 10 || host.BlkioWeight != 300 {
		t.Errorf("resources = %+v", host.Resources)
	}
	if want := []*blkiodev.WeightDevice{{Path: "/dev/vda", Weight: 200}}; !reflect.DeepEqual(host.BlkioWeightDevice, want) {
		t.Errorf("BlkioWeightDevice = %v, want %v", host.BlkioWeightDevice, want)
	}
	for name, got := range map[string][]*blkiodev.ThrottleDevice{
		"read bps": host.BlkioDeviceReadBps, "read iops": host.BlkioDeviceReadIOps,
		"write bps": host.BlkioDeviceWriteBps, "write iops": host.BlkioDeviceWriteIOps,
	} {
		if len(got) != 1 || got[0].Path != "/dev/vda" || got[0].Rate == 0 {
			t.Errorf("%s = %v", name, got)
		}
	}
	if len(host.Ulimits) != 1 || host.Ulimits[0].Name != "nofile" || host.Ulimits[0].Soft != 1024 || host.Ulimits[0].Hard != 2048 {
		t.Errorf("Ulimits = %v", host.Ulimits)
	}

	_, host, _ = r.containerConfig(runtime.ContainerSpec{Name: "p-web-1", Image: "busybox"})
	if host.OomScoreAdj != 0 || host.MemorySwappiness != nil || host.Annotations != nil {
		t.Errorf("unset knobs reach the engine: %+v", host)
	}
}

func TestCheckContainerSpecRefusesWhatTheEngineCannotTake(t *testing.T) {
	umask := uint32(0o077)
	for _, tc := range []struct {
		name, api string
		spec      runtime.ContainerSpec
		want      string
	}{
		{"umask", "1.43", runtime.ContainerSpec{Umask: &umask}, "umask: Docker Engine has no umask setting"},
		{"cpu_count", "1.43", runtime.ContainerSpec{Resources: runtime.Resources{CPUCount: 2}}, "cpu_count is a Windows-only option"},
		{"cpu_percent", "1.43", runtime.ContainerSpec{Resources: runtime.Resources{CPUPercent: 50}}, "cpu_percent is a Windows-only option"},
		{"isolation", "1.43", runtime.ContainerSpec{Isolation: "hyperv"}, `isolation "hyperv"`},
		{"annotations before API 1.43", "1.41", runtime.ContainerSpec{Annotations: map[string]string{"a": "b"}}, "annotations need Docker Engine API 1.43"},
		{"cgroup before API 1.41", "1.40", runtime.ContainerSpec{Cgroup: "private"}, "cgroup: private needs Docker Engine API 1.41"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name = "p-web-1"
			err := offlineRuntime(t, tc.api).CheckContainerSpec(tc.spec)
			if !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p-web-1") {
				t.Errorf("CheckContainerSpec() = %v, want ErrNotImplemented naming the container and saying %q", err, tc.want)
			}
		})
	}
}

func TestDiscardedSettingsAreAnError(t *testing.T) {
	w := "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
	if err := discardedSettings([]string{"some other warning", w}); !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), w) {
		t.Errorf("discardedSettings() = %v, want ErrNotImplemented with the engine's warning in it", err)
	}
	if err := discardedSettings([]string{"Published ports are discarded when using host network mode"}); err != nil {
		t.Errorf("discardedSettings() = %v, want nil", err)
	}
}

func TestCheckContainerSpecAsksTheEngineAboutStorageOpt(t *testing.T) {
	r := newTestRuntime(t)
	info, err := r.cli.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	refuses := false
	for _, kv := range info.DriverStatus {
		refuses = refuses || info.Driver == "overlay2" && kv[0] == "Backing Filesystem" && kv[1] != "xfs"
	}
	err = r.CheckContainerSpec(runtime.ContainerSpec{Name: "p-web-1", StorageOpt: map[string]string{"size": "1G"}})
	switch {
	case refuses && (!errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), "overlay2 takes storage options only on xfs")):
		t.Errorf("CheckContainerSpec() on overlay2 over %v = %v, want a refusal saying why", info.DriverStatus, err)
	case !refuses && err != nil:
		t.Errorf("CheckContainerSpec() on %s = %v, want it left to the engine", info.Driver, err)
	}
	if err := offlineRuntime(t, "1.41").CheckContainerSpec(runtime.ContainerSpec{StorageOpt: map[string]string{"size": "1G"}}); err != nil {
		t.Errorf("an engine that does not answer: %v, want the check left to the create", err)
	}
}
