package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
)

type pullOptions struct {
	ignoreFailures  bool
	ignoreBuildable bool
	includeDeps     bool
	quiet           bool
	policy          string
}

func newPullCmd(g *globalOptions) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreFailures, "ignore-pull-failures", false, "Pull what it can and ignores images with pull failures")
	f.BoolVar(&o.ignoreBuildable, "ignore-buildable", false, "Ignore images that can be built")
	f.BoolVar(&o.includeDeps, "include-deps", false, "Also pull services declared as dependencies")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Pull without printing progress information")
	f.StringVar(&o.policy, "policy", "", `Apply pull policy ("missing"|"always")`)
	return cmd
}

// pullJob is one image to pull, for the first service that uses it.
type pullJob struct {
	service string
	image   string
	// skip, when set, is why the image is not pulled.
	skip string
}

func runPull(ctx context.Context, g *globalOptions, o *pullOptions, services []string) error {
	switch o.policy {
	case "", types.PullPolicyMissing, types.PullPolicyAlways:
	default:
		return fmt.Errorf("invalid --policy %q: use missing or always", o.policy)
	}
	opts := g.projectOptions(services)
	opts.NoDeps = !o.includeDeps
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	jobs, err := pullJobs(ctx, rt, p, o)
	if err != nil {
		return err
	}
	if g.dryRun {
		for _, j := range jobs {
			if j.skip == "" {
				fmt.Fprintf(g.streams.Out, "%s %s  %s\n", planner.KindImage, j.image, planner.PullImage)
			}
		}
		return nil
	}
	progress := g.newProgress("Pulling")
	if o.quiet {
		progress.mode = "quiet"
	}
	return pullImages(ctx, rt, jobs, g.parallel, o.ignoreFailures, progress.Event)
}

// pullJobs lists the images of p's services by service name, each once (for the first service
// that uses it), with why it is skipped: no image (build only), pull_policy never or build,
// already present with policy missing, or buildable with --ignore-buildable.
func pullJobs(ctx context.Context, rt runtime.Runtime, p *project.Project, o *pullOptions) ([]pullJob, error) {
	seen := map[string]bool{}
	var jobs []pullJob
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		j := pullJob{service: name, image: s.Image}
		if s.Image != "" && seen[s.Image] {
			continue
		}
		seen[s.Image] = true
		policy := s.PullPolicy
		if o.policy != "" {
			policy = o.policy
		}
		switch {
		case s.Image == "":
			j.skip = "Skipped - No image to be pulled"
		case policy == types.PullPolicyNever || policy == types.PullPolicyBuild:
			j.skip = "Skipped"
		case s.Build != nil && o.ignoreBuildable:
			j.skip = "Skipped - Image can be built"
		case policy == types.PullPolicyMissing || policy == types.PullPolicyIfNotPresent:
			_, err := rt.InspectImage(ctx, s.Image)
			switch {
			case err == nil:
				j.skip = "Skipped - Image is already present locally"
			case !errors.Is(err, runtime.ErrNotFound):
				return nil, fmt.Errorf("service %q: %w", name, err)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// pullImages pulls the jobs' images at once (at most parallel at a time when parallel > 0). A
// failure names the service and the image; with ignoreFailures it is a warning.
func pullImages(ctx context.Context, rt runtime.Runtime, jobs []pullJob, parallel int, ignoreFailures bool, progress reconcile.Progress) error {
	emit := func(image, status string, state reconcile.State, detail string) {
		if progress != nil {
			progress(reconcile.Event{Kind: planner.KindImage, Name: image, Status: status, State: state, Detail: detail})
		}
	}
	var pulls []pullJob
	for _, j := range jobs {
		if j.skip != "" {
			if j.image != "" {
				emit(j.image, j.skip, reconcile.Done, "")
			}
			continue
		}
		pulls = append(pulls, j)
	}
	return forEach(ctx, parallel, len(pulls), func(ctx context.Context, i int) error {
		j := pulls[i]
		emit(j.image, "Pulling", reconcile.Working, "")
		if err := rt.PullImage(ctx, j.image, nil); err != nil {
			err = fmt.Errorf("service %q: %w", j.service, err)
			if ignoreFailures {
				emit(j.image, "Warning", reconcile.Warning, err.Error())
				return nil
			}
			emit(j.image, "Error", reconcile.Error, err.Error())
			return err
		}
		emit(j.image, "Pulled", reconcile.Done, "")
		return nil
	})
}
