package docker

import (
	"context"
	"fmt"
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
		r.facts = engineFacts{version: info.ServerVersion, apiVersion: r.cli.ClientVersion(), cdiSpecDirs: info.CDISpecDirs}
	})
	return r.facts, r.factsErr
}

// checkDevices refuses CDI devices when the engine cannot inject them: CDI came with Docker
// Engine 25 (behind the "cdi" feature until 28), and an older engine fails only when the
// container starts, with "could not select device driver". The engine still checks the rest
// (GPU drivers, unknown CDI names) itself.
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
