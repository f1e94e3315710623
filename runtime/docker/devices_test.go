package docker

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

func TestContainerConfigPassesDevicesAsDockerComposeDoes(t *testing.T) {
	r := offlineRuntime(t, "1.41")
	spec := runtime.ContainerSpec{
		Image:   "busybox",
		Devices: []runtime.DeviceMapping{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rw"}},
		DeviceRequests: []runtime.DeviceRequest{
			{Key: "devices", Driver: runtime.DriverCDI, DeviceIDs: []string{"comp.test/dev=null"}},
			{Key: "gpus", Count: runtime.CountAll, Capabilities: []string{"compute", "gpu"}},
			{Key: "deploy.resources.reservations.devices", Driver: "nvidia", DeviceIDs: []string{"0", "1"},
				Capabilities: []string{"gpu"}, Options: map[string]string{"a": "b"}},
		},
	}
	_, host, err := r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	wantDevices := []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}
	if !reflect.DeepEqual(host.Devices, wantDevices) {
		t.Errorf("Devices = %+v, want %+v", host.Devices, wantDevices)
	}
	wantRequests := []container.DeviceRequest{
		{Driver: "cdi", DeviceIDs: []string{"comp.test/dev=null"}},
		{Count: -1, Capabilities: [][]string{{"compute", "gpu"}}},
		{Driver: "nvidia", DeviceIDs: []string{"0", "1"}, Capabilities: [][]string{{"gpu"}}, Options: map[string]string{"a": "b"}},
	}
	if !reflect.DeepEqual(host.DeviceRequests, wantRequests) {
		t.Errorf("DeviceRequests = %+v\nwant %+v", host.DeviceRequests, wantRequests)
	}
}

func TestCheckContainerSpecRefusesCDIOnAnEngineWithout(t *testing.T) {
	cdi := runtime.ContainerSpec{DeviceRequests: []runtime.DeviceRequest{
		{Key: "devices", Driver: runtime.DriverCDI, DeviceIDs: []string{"comp.test/dev=null"}},
	}}
	gpu := runtime.ContainerSpec{
		Devices:        []runtime.DeviceMapping{{Source: "/dev/null", Target: "/dev/x", Permissions: "rwm"}},
		DeviceRequests: []runtime.DeviceRequest{{Key: "gpus", Count: runtime.CountAll, Capabilities: []string{"gpu"}}},
	}
	for _, tc := range []struct {
		name  string
		facts engineFacts
		spec  runtime.ContainerSpec
		want  string // "" accepts
	}{
		{"engine 20.10 refuses CDI devices", engineFacts{version: "20.10.24+dfsg1", apiVersion: "1.41"}, cdi,
			`devices: CDI device comp.test/dev=null needs Docker Engine 25 or later with CDI enabled (the daemon's "cdi" feature): this engine is 20.10.24+dfsg1; upgrade or enable it, or use --runtime embedded`},
		{"engine 28 with CDI off refuses them", engineFacts{version: "28.5.1", apiVersion: "1.51"}, cdi,
			"this engine (28.5.1) has CDI off"},
		{"engine 28 with CDI on accepts them", engineFacts{version: "28.5.1", apiVersion: "1.51", cdiSpecDirs: []string{"/etc/cdi"}}, cdi, ""},
		{"engine 25 cannot tell: the engine decides", engineFacts{version: "25.0.3", apiVersion: "1.44"}, cdi, ""},
		{"an engine that lists its CDI devices has it", engineFacts{version: "28.5.1", apiVersion: "1.51",
			cdiSpecDirs: []string{"/etc/cdi"}, discovered: true, cdiDevices: []string{"comp.test/dev=null"}}, cdi, ""},
		{"an engine that lists its CDI devices lacks it", engineFacts{version: "28.5.1", apiVersion: "1.51",
			cdiSpecDirs: []string{"/etc/cdi", "/var/run/cdi"}, discovered: true}, cdi,
			"devices: CDI device comp.test/dev=null is in none of Docker Engine's CDI specs (it reads /etc/cdi, /var/run/cdi)"},
		{"device mappings and GPU requests are the engine's to refuse", engineFacts{version: "20.10.24", apiVersion: "1.41"}, gpu, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runtime{}
			r.factsOnce.Do(func() { r.facts = tc.facts })
			err := r.CheckContainerSpec(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckContainerSpec = %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) ||
				!errors.Is(err, runtime.ErrNotImplemented) && !errors.Is(err, runtime.ErrInvalidArgument)):
				t.Errorf("CheckContainerSpec = %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}
