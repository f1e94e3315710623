package project

import (
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/comp-dev/comp/runtime"
)

// devices reads s's devices, gpus and deploy.resources.reservations.devices as Docker Compose
// sends them to the engine: a device whose source is a fully qualified CDI name (and whose
// target is the same, as the short syntax makes it) is a CDI device, all of them one request
// of runtime.DriverCDI; every other device is a host device mapping; each gpus entry is a
// request with the "gpu" capability added; each reservation is a request as written.
func devices(s types.ServiceConfig) ([]runtime.DeviceMapping, []runtime.DeviceRequest) {
	var mappings []runtime.DeviceMapping
	var cdiNames []string
	for _, d := range s.Devices {
		if d.Source == d.Target && parser.IsQualifiedName(d.Source) {
			cdiNames = append(cdiNames, d.Source)
			continue
		}
		// The long syntax may leave permissions out: Docker's CLI default then, as the short
		// syntax has it.
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		mappings = append(mappings, runtime.DeviceMapping{Source: d.Source, Target: d.Target, Permissions: perms})
	}
	var reqs []runtime.DeviceRequest
	if len(cdiNames) > 0 {
		reqs = append(reqs, runtime.DeviceRequest{Key: "devices", Driver: runtime.DriverCDI, DeviceIDs: cdiNames})
	}
	for _, g := range s.Gpus {
		r := deviceRequest("gpus", g)
		if !slices.Contains(r.Capabilities, runtime.CapabilityGPU) {
			r.Capabilities = append(r.Capabilities, runtime.CapabilityGPU)
		}
		reqs = append(reqs, r)
	}
	if s.Deploy != nil && s.Deploy.Resources.Reservations != nil {
		for _, d := range s.Deploy.Resources.Reservations.Devices {
			reqs = append(reqs, deviceRequest("deploy.resources.reservations.devices", d))
		}
	}
	return mappings, reqs
}

func deviceRequest(key string, d types.DeviceRequest) runtime.DeviceRequest {
	r := runtime.DeviceRequest{
		Key:          key,
		Driver:       d.Driver,
		Count:        int(d.Count),
		DeviceIDs:    slices.Clone(d.IDs),
		Capabilities: slices.Clone(d.Capabilities),
	}
	if len(d.Options) > 0 {
		r.Options = maps.Clone(map[string]string(d.Options))
	}
	return r
}
