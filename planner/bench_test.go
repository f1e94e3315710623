package planner

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// BenchmarkPlanUp1000 plans `up` of a project of 1 000 services whose depends_on form a DAG
// (each service depends on up to 3 earlier ones, drawn with a fixed seed): from nothing, and
// from an observed state where every container runs up to date (a no-op `up`).
func BenchmarkPlanUp1000(b *testing.B) {
	const services = 1000
	p := loadBench(b, dagCompose(services, 1))
	const imageID = "sha256:aaa"
	upToDate := Observed{
		Images:   map[string]string{"busybox": imageID},
		Networks: []runtime.Network{{Name: p.NetworkName("default")}},
	}
	for _, name := range p.ServiceNames() {
		upToDate.Containers = append(upToDate.Containers, observedRunning(b, p, name, imageID))
	}
	cases := []struct {
		name  string
		obs   Observed
		steps int // a check that the plan is the one meant, not a timing
	}{
		{name: "from nothing", obs: Observed{}, steps: 1 + 1 + 2*services}, // pull, network, creates and starts
		{name: "up to date", obs: upToDate, steps: services},               // keeps
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			plan, err := Up(p, tc.obs, UpOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(plan.Steps) != tc.steps {
				b.Fatalf("plan has %d steps, want %d:\n%s", len(plan.Steps), tc.steps, plan)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Up(p, tc.obs, UpOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// dagCompose is a compose file of n services named s0000…, each depending on up to 3 services
// defined before it, chosen by a generator seeded with seed.
func dagCompose(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%04d:\n    image: busybox\n    command: [sleep, \"3600\"]\n", i)
		if i == 0 {
			continue
		}
		deps := rng.Perm(i)[:min(i, rng.IntN(4))]
		if len(deps) == 0 {
			continue
		}
		b.WriteString("    depends_on:\n")
		for _, d := range deps {
			fmt.Fprintf(&b, "      - s%04d\n", d)
		}
	}
	return b.String()
}

// loadBench writes yaml as compose.yaml in a temporary folder named "demo" and loads it.
func loadBench(b *testing.B, yaml string) *project.Project {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := project.Load(context.Background(), project.Options{Files: []string{file}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// observedRunning is the running container that `up` would have created for service's first
// replica.
func observedRunning(b *testing.B, p *project.Project, service, imageID string) runtime.Container {
	b.Helper()
	s, err := p.GetService(service)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: 1, ImageID: imageID})
	if err != nil {
		b.Fatal(err)
	}
	nets := map[string]runtime.ContainerNetwork{}
	for _, a := range spec.Networks {
		nets[a.Network] = runtime.ContainerNetwork{}
	}
	return runtime.Container{ID: spec.Name + "-id", Name: spec.Name, Image: s.Image, ImageID: imageID,
		Labels: spec.Labels, State: runtime.StateRunning, Networks: nets}
}
