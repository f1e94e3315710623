package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/comp-dev/comp/internal/testimage"
	"github.com/comp-dev/comp/internal/testregistry"
)

// buildComp builds comp of the module in the working folder into out, as README says: with
// internal/buildcomp (static, with seccomp, carrying the lean core).
func buildComp(ctx context.Context, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// buildcomp finds the module from the working folder, as the benchmark's other paths do.
	cmd := exec.CommandContext(ctx, "go", "run", "github.com/comp-dev/comp/internal/buildcomp", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run internal/buildcomp (run the benchmark from comp's repository): %w\n%s", err, b)
	}
	return nil
}

// startRegistry starts the loopback test registry and pushes busybox:latest to it.
func startRegistry() (*testregistry.Registry, error) {
	img, err := testimage.Busybox()
	if err != nil {
		return nil, fmt.Errorf("build the busybox image: %w", err)
	}
	reg, err := testregistry.New()
	if err != nil {
		return nil, err
	}
	if _, err := reg.Push("busybox:latest", img); err != nil {
		reg.Close()
		return nil, err
	}
	return reg, nil
}

// removeDockerImages removes from the Docker Engine the images pulled from the run's registry:
// its port is new every run, so they would pile up otherwise.
func removeDockerImages(ctx context.Context, registryAddr string) error {
	out, err := probe(ctx, nil, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return fmt.Errorf("docker images: %w", err)
	}
	var ours []string
	for _, ref := range strings.Fields(out) {
		if strings.HasPrefix(ref, registryAddr+"/") {
			ours = append(ours, ref)
		}
	}
	if len(ours) == 0 {
		return nil
	}
	if _, err := probe(ctx, nil, append([]string{"docker", "image", "rm", "--force"}, ours...)...); err != nil {
		return fmt.Errorf("docker image rm: %w", err)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir: a state folder with mounts left (a
// teardown that failed) must not be removed, or the removal would reach into them.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": field 5 is the
		// mount point, with spaces escaped as \040.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	return found, sc.Err()
}
