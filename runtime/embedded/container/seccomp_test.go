package container

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithoutDeadArchitecturesDropsOnlyX32(t *testing.T) {
	all := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	p := withoutDeadArchitectures(&specs.LinuxSeccomp{Architectures: slices.Clone(all)}, false)
	if want := []specs.Arch{specs.ArchX86_64, specs.ArchX86}; !slices.Equal(p.Architectures, want) {
		t.Errorf("without x32: %v, want %v", p.Architectures, want)
	}
	p = withoutDeadArchitectures(&specs.LinuxSeccomp{Architectures: slices.Clone(all)}, true)
	if !slices.Equal(p.Architectures, all) {
		t.Errorf("with x32: %v, want %v unchanged", p.Architectures, all)
	}
	if withoutDeadArchitectures(nil, false) != nil {
		t.Error("a nil profile must stay nil")
	}
}

// The probe agrees with the kernel's configuration where the kernel publishes it: a kernel
// built without CONFIG_X86_X32_ABI runs no x32 code. (Built with it, x32 may still be off at
// boot, so only the negative case is certain.)
func TestX32ProbeAgreesWithKernelConfig(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("x32 is an amd64 ABI")
	}
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		t.Skipf("the kernel does not publish its configuration: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	config, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	built := bytes.Contains(config, []byte("\nCONFIG_X86_X32_ABI=y\n"))
	if !built && x32Supported() {
		t.Error("x32Supported() = true on a kernel built without CONFIG_X86_X32_ABI")
	}
	t.Logf("CONFIG_X86_X32_ABI=%v, x32Supported()=%v", built, x32Supported())
}

func TestDefaultProfileKeepsNativeAndX86(t *testing.T) {
	if !SeccompSupported() {
		t.Skip("built without -tags seccomp")
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}}}
	p, err := seccompProfile("", spec)
	if err != nil {
		t.Fatal(err)
	}
	if goruntime.GOARCH == "amd64" {
		for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86} {
			if !slices.Contains(p.Architectures, a) {
				t.Errorf("default profile lacks %s: %v", a, p.Architectures)
			}
		}
		if slices.Contains(p.Architectures, specs.ArchX32) != x32Supported() {
			t.Errorf("default profile architectures %v, x32 supported: %v", p.Architectures, x32Supported())
		}
	}
}
