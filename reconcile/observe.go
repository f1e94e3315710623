package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// Observe reads what the runtime has of project name: its containers (stopped ones too),
// networks and volumes by label, and — when p is given — the external networks and volumes it
// declares and the local images its services use.
func Observe(ctx context.Context, rt Engine, name string, p *project.Project) (planner.Observed, error) {
	var obs planner.Observed
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	list := runtime.ListOptions{Project: name, All: true}
	wg.Add(3)
	go func() {
		defer wg.Done()
		cs, err := rt.ListContainers(ctx, list)
		if err != nil {
			fail(fmt.Errorf("list containers of project %s: %w", name, err))
		}
		obs.Containers = cs
	}()
	go func() {
		defer wg.Done()
		ns, err := rt.ListNetworks(ctx, list)
		if err != nil {
			fail(fmt.Errorf("list networks of project %s: %w", name, err))
		}
		obs.Networks = ns
	}()
	go func() {
		defer wg.Done()
		vs, err := rt.ListVolumes(ctx, list)
		if err != nil {
			fail(fmt.Errorf("list volumes of project %s: %w", name, err))
		}
		obs.Volumes = vs
	}()
	if p != nil {
		obs.ExternalNetworks = map[string]bool{}
		obs.ExternalVolumes = map[string]bool{}
		obs.Images = map[string]string{}
		for key, n := range p.Networks {
			if !n.External {
				continue
			}
			name := p.NetworkName(key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := rt.InspectNetwork(ctx, name)
				if err != nil && !errors.Is(err, runtime.ErrNotFound) {
					fail(fmt.Errorf("inspect network %s: %w", name, err))
				}
				mu.Lock()
				obs.ExternalNetworks[name] = err == nil
				mu.Unlock()
			}()
		}
		for key, v := range p.Volumes {
			if !v.External {
				continue
			}
			name := p.VolumeName(key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := rt.InspectVolume(ctx, name)
				if err != nil && !errors.Is(err, runtime.ErrNotFound) {
					fail(fmt.Errorf("inspect volume %s: %w", name, err))
				}
				mu.Lock()
				obs.ExternalVolumes[name] = err == nil
				mu.Unlock()
			}()
		}
		seen := map[string]bool{}
		for _, s := range p.Services {
			if seen[s.Image] {
				continue
			}
			seen[s.Image] = true
			ref := s.Image
			wg.Add(1)
			go func() {
				defer wg.Done()
				img, err := rt.InspectImage(ctx, ref)
				if err != nil {
					if !errors.Is(err, runtime.ErrNotFound) {
						fail(fmt.Errorf("inspect image %s: %w", ref, err))
					}
					return
				}
				mu.Lock()
				obs.Images[ref] = img.ID
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return obs, errors.Join(errs...)
}

// PlanFunc plans from what the runtime has; imagesReady says that the pulls and builds of the
// first plan were just applied.
type PlanFunc func(obs planner.Observed, imagesReady bool) (*planner.Plan, error)

// Prepare observes project p on rt and plans with plan. When that plan pulls or builds
// images, it applies those steps first, then observes and plans again with the images there,
// so that a pulled image that differs from the one a container runs is seen as a change and
// new containers are labelled with their image's ID. With dryRun it returns the first plan
// and changes nothing.
//
// Before anything is pulled or built, a compose key that rt cannot honour (project.Keys) and
// a plan that fails its preflight checks (Preflight) stop it.
func Prepare(ctx context.Context, rt Engine, p *project.Project, opts Options, dryRun bool, plan PlanFunc) (*planner.Plan, error) {
	if err := p.CheckSupport(rt.Name()); err != nil {
		return nil, err
	}
	obs, err := Observe(ctx, rt, p.Name, p)
	if err != nil {
		return nil, err
	}
	first, err := plan(obs, false)
	if err != nil || dryRun {
		return first, err
	}
	images := first.ImageSteps()
	if images.Empty() {
		return first, nil
	}
	if err := Preflight(ctx, first, rt); err != nil {
		return nil, err
	}
	if err := CheckBuilds(images, rt); err != nil {
		return nil, err
	}
	if _, err := Apply(ctx, images, rt, opts); err != nil {
		return nil, err
	}
	if obs, err = Observe(ctx, rt, p.Name, p); err != nil {
		return nil, err
	}
	return plan(obs, true)
}
