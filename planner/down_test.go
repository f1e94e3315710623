package planner

import (
	"slices"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestDownRemovesDependentsFirstThenNetworksAndOnlyWithVolumesTheVolumes(t *testing.T) {
	p := load(t, chain)
	obs := Observed{
		Containers: []runtime.Container{
			running(t, p, "db", 1, ""), running(t, p, "api", 1, ""), running(t, p, "web", 1, ""),
		},
		Networks: []runtime.Network{{Name: "demo_default", Labels: map[string]string{runtime.LabelNetwork: "default"}}},
		Volumes:  []runtime.Volume{{Name: "demo_data", Labels: map[string]string{runtime.LabelVolume: "data"}}},
	}
	for _, withVolumes := range []bool{false, true} {
		for _, withFile := range []bool{true, false} {
			proj := p
			if !withFile {
				proj = nil // the graph comes from the depends_on labels
			}
			plan := Down(proj, obs, DownOptions{Volumes: withVolumes})
			stop := func(name string) *Step { return plan.Find(KindContainer, name, StopContainer) }
			db, api, web := stop("demo-db-1"), stop("demo-api-1"), stop("demo-web-1")
			if !contains(db.After, api.ID) || !contains(api.After, web.ID) || len(web.After) != 0 {
				t.Errorf("file=%v: db's stop after %v, api's after %v, web's after %v", withFile, db.After, api.After, web.After)
			}
			// A removal waits only for its own container's stop, not for its dependents' removals.
			if rm := plan.Find(KindContainer, "demo-db-1", RemoveContainer); !slices.Equal(rm.After, []string{db.ID}) {
				t.Errorf("file=%v: db's removal after %v, want its stop", withFile, rm.After)
			}
			net := plan.Find(KindNetwork, "demo_default", RemoveNetwork)
			if net == nil || len(net.After) != 3 {
				t.Errorf("file=%v: network step %+v", withFile, net)
			}
			if vol := plan.Find(KindVolume, "demo_data", RemoveVolume); (vol != nil) != withVolumes {
				t.Errorf("volumes=%v: volume step %+v", withVolumes, vol)
			}
		}
	}
}

func TestDownKeepsExternalNetworksAndLeavesOrphansWithoutTheFlag(t *testing.T) {
	p := load(t, `
services:
  a: {image: busybox, networks: [outside]}
networks:
  outside: {external: true, name: shared}
`)
	orphan := runtime.Container{ID: "o", Name: "demo-old-1", Labels: map[string]string{runtime.LabelService: "old"}}
	obs := Observed{
		Containers: []runtime.Container{running(t, p, "a", 1, ""), orphan},
		Networks:   []runtime.Network{{Name: "shared", Labels: map[string]string{runtime.LabelNetwork: "outside"}}},
	}
	plan := Down(p, obs, DownOptions{})
	if plan.Find(KindNetwork, "shared", RemoveNetwork) != nil {
		t.Error("down removes an external network")
	}
	if plan.Find(KindContainer, "demo-old-1", RemoveContainer) != nil || len(plan.Warnings) != 1 {
		t.Errorf("orphan handling: step %v, warnings %q", plan.Find(KindContainer, "demo-old-1", RemoveContainer), plan.Warnings)
	}
	if plan := Down(p, obs, DownOptions{RemoveOrphans: true}); plan.Find(KindContainer, "demo-old-1", RemoveContainer) == nil {
		t.Error("--remove-orphans keeps the orphan")
	}
}
