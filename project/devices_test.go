package project

import (
	"reflect"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestContainerSpecDevicesAsDockerComposeSendsThem(t *testing.T) {
	path := write(t, `
services:
  app:
    image: busybox
    devices:
      - /dev/null:/dev/mynull
      - /dev/zero
      - /dev/fuse:/dev/fuse:r
      - {source: /dev/full, target: /dev/myfull, permissions: rw}
      - {source: /dev/random, target: /dev/myrandom}
      - comp.test/dev=null
      - comp.test/dev=zero
    gpus:
      - {driver: nvidia, count: 2, capabilities: [compute]}
      - {device_ids: ["GPU-1"]}
    deploy:
      resources:
        reservations:
          devices:
            - {capabilities: [gpu]}
            - {driver: cdi, device_ids: [nvidia.com/gpu=all], capabilities: [gpu], options: {a: b}}
  all:
    image: busybox
    gpus: all
`)
	spec := firstSpec(t, path, "app")
	wantDevices := []runtime.DeviceMapping{
		{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rwm"},
		{Source: "/dev/zero", Target: "/dev/zero", Permissions: "rwm"},
		{Source: "/dev/fuse", Target: "/dev/fuse", Permissions: "r"},
		{Source: "/dev/full", Target: "/dev/myfull", Permissions: "rw"},
		{Source: "/dev/random", Target: "/dev/myrandom", Permissions: "rwm"},
	}
	if !reflect.DeepEqual(spec.Devices, wantDevices) {
		t.Errorf("devices = %+v\nwant %+v", spec.Devices, wantDevices)
	}
	wantRequests := []runtime.DeviceRequest{
		{Key: "devices", Driver: "cdi", DeviceIDs: []string{"comp.test/dev=null", "comp.test/dev=zero"}},
		{Key: "gpus", Driver: "nvidia", Count: 2, Capabilities: []string{"compute", "gpu"}},
		{Key: "gpus", DeviceIDs: []string{"GPU-1"}, Capabilities: []string{"gpu"}},
		// A reservation with neither count nor device_ids asks for all (compose-go's default).
		{Key: "deploy.resources.reservations.devices", Count: runtime.CountAll, Capabilities: []string{"gpu"}},
		{Key: "deploy.resources.reservations.devices", Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"},
			Capabilities: []string{"gpu"}, Options: map[string]string{"a": "b"}},
	}
	if !reflect.DeepEqual(spec.DeviceRequests, wantRequests) {
		t.Errorf("device requests = %+v\nwant %+v", spec.DeviceRequests, wantRequests)
	}

	spec = firstSpec(t, path, "all")
	want := []runtime.DeviceRequest{{Key: "gpus", Count: runtime.CountAll, Capabilities: []string{"gpu"}}}
	if spec.Devices != nil || !reflect.DeepEqual(spec.DeviceRequests, want) {
		t.Errorf("gpus: all gives devices %+v, requests %+v; want none and %+v", spec.Devices, spec.DeviceRequests, want)
	}
}
