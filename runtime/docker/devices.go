package docker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"

	"github.com/comp-dev/comp/runtime"
)

// addDevices passes spec's device mappings and device requests to the engine as Docker Compose
// does; the engine's device drivers (nvidia, cdi) serve the requests when the container starts.
func addDevices(host *container.HostConfig, spec runtime.ContainerSpec) {
	for _, d := range spec.Devices {
		host.Devices = append(host.Devices, container.DeviceMapping{
			PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions,
		})
	}
	for _, r := range spec.DeviceRequests {
		req := container.DeviceRequest{Driver: r.Driver, Count: r.Count, DeviceIDs: r.DeviceIDs, Options: r.Options}
		if len(r.Capabilities) > 0 {
			// One AND set of capabilities; the engine takes an OR list of them.
			req.Capabilities = [][]string{r.Capabilities}
		}
		host.DeviceRequests = append(host.DeviceRequests, req)
	}
}

// engineFacts are the facts about the engine that decide what comp may ask of it before it
// creates anything, read once per Runtime.
type engineFacts struct {
	version    string // "20.10.24+dfsg1"
	apiVersion string
	// cdiSpecDirs are where the engine reads CDI specs; none when CDI is off (API 1.46+).
	cdiSpecDirs []string
	// cdiDevices are the CDI devices the engine found, when it says (discovered: API 1.50+).
	discovered bool
	cdiDevices []string
}

// engine returns the engine's facts, asking it the first time only.
func (r *Runtime) engine() (engineFacts, error) {
	r.factsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		info, err := r.cli.Info(ctx)
		if err != nil {
			r.factsErr = fmt.Errorf("get Docker Engine info: %w", classify(err))
			return
		}
		api := r.cli.ClientVersion()
		r.facts = engineFacts{version: info.ServerVersion, apiVersion: api, cdiSpecDirs: info.CDISpecDirs,
			discovered: versions.GreaterThanOrEqualTo(api, "1.50")}
		for _, d := range info.DiscoveredDevices {
			if d.Source == runtime.DriverCDI {
				r.facts.cdiDevices = append(r.facts.cdiDevices, d.ID)
			}
		}
	})
	return r.facts, r.factsErr
}

// checkDevices refuses CDI devices when the engine cannot inject them: CDI came with Docker
// Engine 25 (behind the "cdi" feature until 28), and an older engine fails only when the
// container starts, with "could not select device driver". An engine that lists the CDI
// devices it found (API 1.50+) is asked whether it has each; else the engine checks the names
// itself at start, as it does GPU drivers.
func (r *Runtime) checkDevices(spec runtime.ContainerSpec) error {
	for _, req := range spec.DeviceRequests {
		if req.Driver != runtime.DriverCDI || len(req.DeviceIDs) == 0 {
			continue
		}
		facts, err := r.engine()
		if err != nil {
			return err
		}
		if why := facts.noCDI(); why != "" {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
				"%s: CDI device %s needs Docker Engine 25 or later with CDI enabled (the daemon's \"cdi\" feature): %s; upgrade or enable it, or use --runtime embedded",
				req.Key, req.DeviceIDs[0], why))
		}
		if !facts.discovered {
			continue
		}
		for _, id := range req.DeviceIDs {
			if !slices.Contains(facts.cdiDevices, id) {
				return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
					"%s: CDI device %s is in none of Docker Engine's CDI specs (it reads %s)", req.Key, id, strings.Join(facts.cdiSpecDirs, ", ")))
			}
		}
	}
	return nil
}

// noCDI says why the engine cannot inject CDI devices, or "" when it can or cannot tell: an
// engine 25 or 26 may have the feature on, with no way to see it from outside.
func (f engineFacts) noCDI() string {
	major, _, _ := strings.Cut(f.version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 25 {
		return "this engine is " + f.version
	}
	if versions.GreaterThanOrEqualTo(f.apiVersion, "1.46") && len(f.cdiSpecDirs) == 0 {
		return "this engine (" + f.version + ") has CDI off"
	}
	return ""
}
