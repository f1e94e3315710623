package supervisor

import (
	"errors"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestCheckSupportedKernelKnobs(t *testing.T) {
	for _, tc := range []struct {
		what string
		spec runtime.ContainerSpec
		want error  // nil: supported
		says string // in the error
	}{
		{"every namespace mode Docker has", runtime.ContainerSpec{IPC: runtime.Namespace{Mode: runtime.NamespaceShareable},
			PID: runtime.Namespace{Mode: runtime.NamespaceHost}, UTS: "host", UsernsMode: "host", OCIRuntime: "runc", Isolation: "default"}, nil, ""},
		{"ipc none", runtime.ContainerSpec{IPC: runtime.Namespace{Mode: runtime.NamespaceNone}}, nil, ""},
		{"ipc and pid of a container", runtime.ContainerSpec{IPC: runtime.JoinContainer("a"), PID: runtime.JoinContainer("a")}, nil, ""},
		{"an unknown ipc mode", runtime.ContainerSpec{IPC: runtime.Namespace{Mode: "ns:/x"}}, runtime.ErrNotImplemented, `ipc "ns:/x"`},
		{"pid private", runtime.ContainerSpec{PID: runtime.Namespace{Mode: "private"}}, runtime.ErrNotImplemented, `pid "private"`},
		{"uts host with a hostname", runtime.ContainerSpec{UTS: "host", Hostname: "web"}, runtime.ErrInvalidArgument, "uts: host"},
		{"a uts mode", runtime.ContainerSpec{UTS: "private"}, runtime.ErrNotImplemented, `uts "private"`},
		{"userns_mode", runtime.ContainerSpec{UsernsMode: "keep-id"}, runtime.ErrNotImplemented, "userns_mode \"keep-id\": the embedded runtime does not run containers in a user namespace"},
		{"storage_opt", runtime.ContainerSpec{StorageOpt: map[string]string{"size": "1G"}}, runtime.ErrNotImplemented, "storage_opt is not supported by the embedded runtime"},
		{"another OCI runtime", runtime.ContainerSpec{OCIRuntime: "runsc"}, runtime.ErrNotImplemented, `runtime "runsc"`},
		{"isolation", runtime.ContainerSpec{Isolation: "hyperv"}, runtime.ErrNotImplemented, `isolation "hyperv"`},
		{"cpu_count", runtime.ContainerSpec{Resources: runtime.Resources{CPUCount: 1}}, runtime.ErrNotImplemented, "cpu_count"},
	} {
		err := CheckSupported(tc.spec)
		if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: %v, want %v saying %q", tc.what, err, tc.want, tc.says)
		}
	}
}
