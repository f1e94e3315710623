package runtime

// DriverCDI is the device driver of DeviceRequests whose DeviceIDs are fully qualified CDI
// device names ("vendor.com/class=name"), as Docker Engine names it.
const DriverCDI = "cdi"

// CapabilityGPU is the capability of a request for GPUs (compose's gpus: always has it).
const CapabilityGPU = "gpu"

// CountAll in DeviceRequest.Count asks for every device the driver has.
const CountAll = -1

// DeviceMapping makes the host device node Source (or every device node under the folder
// Source) available in the container at Target, with cgroup Permissions "rwm" or a subset,
// as Docker's --device does.
type DeviceMapping struct {
	Source      string
	Target      string
	Permissions string
}

// DeviceRequest asks for devices by driver and capability, as Docker's --gpus and compose's
// device reservations do. A request of DriverCDI names CDI devices in DeviceIDs and has no
// Count.
type DeviceRequest struct {
	// Key is the compose key the request comes from ("devices", "gpus",
	// "deploy.resources.reservations.devices"), for messages.
	Key    string
	Driver string
	// Count is how many devices (CountAll: all of them); 0 with DeviceIDs, which pick them.
	Count     int
	DeviceIDs []string
	// Capabilities must all be offered by the driver ("gpu", "compute", …).
	Capabilities []string
	Options      map[string]string
}

// GPU reports whether r asks for GPUs by capability rather than for CDI devices by name.
func (r DeviceRequest) GPU() bool {
	if r.Driver == DriverCDI {
		return false
	}
	for _, c := range r.Capabilities {
		if c == CapabilityGPU {
			return true
		}
	}
	return false
}
