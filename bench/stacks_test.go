package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/project"
)

// TestStacksLoad checks that every stack is a valid compose file of the shape its name
// promises, with the registry's busybox and no network (which every runtime supports).
func TestStacksLoad(t *testing.T) {
	t.Setenv("REGISTRY", "127.0.0.1:5000")
	cases := []struct {
		stack    string
		services int
		volumes  int
		// deps maps a service to its one dependency and the condition it waits for.
		deps map[string][2]string
	}{
		{stack: "wide20", services: 20},
		{stack: "chain10", services: 10, volumes: 10,
			deps: map[string][2]string{"c02": {"c01", types.ServiceConditionStarted}, "c10": {"c09", types.ServiceConditionStarted}}},
		{stack: "healthy5", services: 5,
			deps: map[string][2]string{"h2": {"h1", types.ServiceConditionHealthy}, "h5": {"h4", types.ServiceConditionHealthy}}},
		{stack: "logs4x50k", services: 4},
	}
	if len(cases) != len(stacks) {
		t.Fatalf("%d stacks, %d cases: add a case for each new stack", len(stacks), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			st, ok := findStack(tc.stack)
			if !ok {
				t.Fatalf("no stack %s", tc.stack)
			}
			dir := filepath.Join(t.TempDir(), st.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(st.compose), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := project.Load(context.Background(), project.Options{Files: []string{file}})
			if err != nil {
				t.Fatalf("load:\n%s\n%v", st.compose, err)
			}
			if len(p.Services) != tc.services || len(p.Volumes) != tc.volumes {
				t.Errorf("%d services and %d volumes, want %d and %d", len(p.Services), len(p.Volumes), tc.services, tc.volumes)
			}
			for name, s := range p.Services {
				if s.Image != "127.0.0.1:5000/busybox:latest" || s.NetworkMode != "none" {
					t.Errorf("%s: image %q, network_mode %q", name, s.Image, s.NetworkMode)
				}
			}
			for svc, want := range tc.deps {
				got := p.Services[svc].DependsOn
				if len(got) != 1 || got[want[0]].Condition != want[1] {
					t.Errorf("%s depends on %v, want %s (%s)", svc, got, want[0], want[1])
				}
			}
			if st.ops[len(st.ops)-1].name != opDown {
				t.Errorf("operations %v do not end with %s: the next round would not start from nothing", opNames(st.ops), opDown)
			}
		})
	}
}

func TestEveryStackTearsDownWithTheSameFlags(t *testing.T) {
	for _, st := range stacks {
		down := st.ops[len(st.ops)-1]
		if !slices.Equal(down.args, []string{"down", "-v", "-t", "0"}) {
			t.Errorf("%s: %v", st.name, down.args)
		}
	}
}
