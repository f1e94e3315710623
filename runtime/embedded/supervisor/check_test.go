package supervisor

import (
	"errors"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestCheckSupported(t *testing.T) {
	bridged := []runtime.NetworkAttachment{{Network: "p_default"}}
	for _, tc := range []struct {
		what string
		spec runtime.ContainerSpec
		want error // nil: supported
	}{
		{"a service on the project's network", runtime.ContainerSpec{Networks: bridged,
			Ports:  []runtime.PortSpec{{ContainerPort: 80, Protocol: "tcp"}},
			Mounts: []runtime.Mount{{Type: runtime.MountVolume, Target: "/data"}, {Type: runtime.MountTmpfs, Target: "/tmp"}}}, nil},
		{"network_mode: host with ports", runtime.ContainerSpec{NetworkMode: runtime.Namespace{Mode: runtime.NamespaceHost},
			Ports: []runtime.PortSpec{{ContainerPort: 80}}}, nil},
		{"network_mode: container:", runtime.ContainerSpec{NetworkMode: runtime.JoinContainer("db")}, nil},
		{"network_mode: bridge", runtime.ContainerSpec{NetworkMode: runtime.Namespace{Mode: "bridge"}}, runtime.ErrNotImplemented},
		{"an unknown network_mode", runtime.ContainerSpec{NetworkMode: runtime.Namespace{Mode: "overlay-thing"}}, runtime.ErrNotImplemented},
		{"ports with no network", runtime.ContainerSpec{NetworkMode: runtime.Namespace{Mode: runtime.NamespaceNone},
			Ports: []runtime.PortSpec{{ContainerPort: 80}}}, runtime.ErrInvalidArgument},
		{"an npipe mount", runtime.ContainerSpec{Networks: bridged,
			Mounts: []runtime.Mount{{Type: "npipe", Target: `\\.\pipe\x`}}}, runtime.ErrNotImplemented},
		{"an sctp port", runtime.ContainerSpec{Networks: bridged,
			Ports: []runtime.PortSpec{{ContainerPort: 80, Protocol: "sctp"}}}, runtime.ErrNotImplemented},
	} {
		err := CheckSupported(tc.spec)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
}
