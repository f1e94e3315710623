package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/reconcile"
	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/docker"
	"github.com/comp-dev/comp/runtime/embedded"
)

// globalOptions are the flags every command takes, named as Docker Compose names them, and
// the command's dependencies: its streams and how it reaches a runtime.
type globalOptions struct {
	streams *IOStreams
	// newRuntime connects to the runtime named by --runtime: connectRuntime, or a test's fake.
	newRuntime func(ctx context.Context, name string) (runtime.Runtime, error)

	files       []string
	projectName string
	projectDir  string
	profiles    []string
	envFiles    []string
	runtimeName string
	ansi        string
	progress    string
	parallel    int
	dryRun      bool
}

func (g *globalOptions) addFlags(root *cobra.Command) {
	// Global flags go before the command, as with `docker compose`: parsed by the root
	// (TraverseChildren), they leave -f free for `logs -f` (follow).
	root.TraverseChildren = true
	f := root.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "Compose configuration files")
	f.StringVarP(&g.projectName, "project-name", "p", "", "Project name")
	f.StringVar(&g.projectDir, "project-directory", "", "Specify an alternate working directory (default: the path of the first compose file)")
	f.StringArrayVar(&g.profiles, "profile", nil, "Specify a profile to enable")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "Specify an alternate environment file")
	f.StringVar(&g.runtimeName, "runtime", "", `Container runtime: "embedded" or "docker" (default: $COMP_RUNTIME, else "embedded")`)
	f.StringVar(&g.ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	f.StringVar(&g.progress, "progress", "", `Set type of progress output ("auto"|"tty"|"plain"|"json"|"quiet")`)
	f.IntVar(&g.parallel, "parallel", -1, "Control max parallelism, -1 for unlimited")
	f.BoolVar(&g.dryRun, "dry-run", false, "Execute command in dry run mode: print the plan and change nothing")
}

// complete fills defaults from the environment and checks the global flags.
func (g *globalOptions) complete() error {
	if g.runtimeName == "" {
		g.runtimeName = os.Getenv("COMP_RUNTIME")
	}
	if g.runtimeName == "" {
		g.runtimeName = "embedded"
	}
	if g.ansi == "auto" {
		if v := os.Getenv("COMPOSE_ANSI"); v != "" {
			g.ansi = v
		}
	}
	switch g.ansi {
	case "never":
		g.streams.NoColor = true
	case "always":
		g.streams.ForceColor = true
	case "auto":
	default:
		return fmt.Errorf("invalid --ansi %q: use never, always or auto", g.ansi)
	}
	if g.progress == "" {
		g.progress = os.Getenv("COMPOSE_PROGRESS")
	}
	if g.progress == "" {
		g.progress = "auto"
	}
	switch g.progress {
	case "auto", "tty", "plain", "json", "quiet":
	default:
		return fmt.Errorf("invalid --progress %q: use auto, tty, plain, json or quiet", g.progress)
	}
	if g.parallel == -1 {
		if v := os.Getenv("COMPOSE_PARALLEL_LIMIT"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("COMPOSE_PARALLEL_LIMIT=%q: not a number", v)
			}
			g.parallel = n
		}
	}
	return nil
}

// load loads the project; services limit it to those services and their dependencies.
func (g *globalOptions) load(ctx context.Context, services ...string) (*project.Project, error) {
	return project.Load(ctx, g.projectOptions(services))
}

func (g *globalOptions) projectOptions(services []string) project.Options {
	return project.Options{
		Files:    g.files,
		Name:     g.projectName,
		Dir:      g.projectDir,
		Profiles: g.profiles,
		EnvFiles: g.envFiles,
		Services: services,
	}
}

// name returns the project name without needing a compose file: -p, COMPOSE_PROJECT_NAME, or
// the loaded project's name. Commands like `down` and `ps` work from labels alone when -p is set.
func (g *globalOptions) name(ctx context.Context) (string, *project.Project, error) {
	p, err := g.load(ctx)
	if err == nil {
		return p.Name, p, nil
	}
	name := g.projectName
	if name == "" {
		name = os.Getenv("COMPOSE_PROJECT_NAME")
	}
	if name == "" {
		return "", nil, err
	}
	if norm := loader.NormalizeProjectName(name); norm != name {
		return "", nil, fmt.Errorf("invalid project name %q: use lowercase letters, digits, dashes and underscores", name)
	}
	return name, nil, nil
}

// connectRuntime connects to the runtime named name.
func connectRuntime(ctx context.Context, name string) (runtime.Runtime, error) {
	switch name {
	case "docker":
		return docker.New(ctx)
	case "embedded":
		return embedded.New(ctx)
	default:
		return nil, fmt.Errorf("unknown runtime %q: use --runtime embedded or --runtime docker", name)
	}
}

// runtime connects to the selected runtime.
func (g *globalOptions) runtime(ctx context.Context) (runtime.Runtime, error) {
	return g.newRuntime(ctx, g.runtimeName)
}

// connect connects to the selected runtime and recovers project (every project when ""): a
// command that acts on a project makes sure the runtime owns its running containers first
// (runtime.Runtime.Recover).
func (g *globalOptions) connect(ctx context.Context, project string) (runtime.Runtime, error) {
	rt, err := g.runtime(ctx)
	if err != nil {
		return nil, err
	}
	if err := rt.Recover(ctx, project); err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// openProject names the project (from its compose file, or -p alone), checks that the named
// services are in it when the file is at hand, and connects to the runtime: what every command
// acting on an existing project does first. p is nil when there is no compose file.
func (g *globalOptions) openProject(ctx context.Context, services []string) (string, *project.Project, runtime.Runtime, error) {
	name, p, err := g.name(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	if err := checkServices(p, services); err != nil {
		return "", nil, nil, err
	}
	rt, err := g.connect(ctx, name)
	if err != nil {
		return "", nil, nil, err
	}
	return name, p, rt, nil
}

// observe reads what the runtime has of project name (see reconcile.Observe).
func observe(ctx context.Context, rt runtime.Runtime, name string, p *project.Project) (planner.Observed, error) {
	return reconcile.Observe(ctx, rt, name, p)
}

// orphanSettings are COMPOSE_REMOVE_ORPHANS and COMPOSE_IGNORE_ORPHANS, read here and nowhere
// else: from the project's environment when there is a project (the process's, and the
// COMPOSE_* variables of its .env, as Compose reads them), else from the process's.
func orphanSettings(p *project.Project) (remove, ignore bool) {
	lookup := os.Getenv
	if p != nil {
		lookup = func(k string) string { return p.Environment[k] }
	}
	remove, _ = strconv.ParseBool(lookup("COMPOSE_REMOVE_ORPHANS"))
	ignore, _ = strconv.ParseBool(lookup("COMPOSE_IGNORE_ORPHANS"))
	return remove, ignore
}

// ready readies plan for applying: with --dry-run it prints the plan (and dryRun is true);
// otherwise it runs the checks that must pass before the plan changes anything
// (reconcile.Preflight) and prints the plan's warnings.
func (g *globalOptions) ready(ctx context.Context, rt runtime.Runtime, plan *planner.Plan, progress *progressWriter) (dryRun bool, err error) {
	if g.dryRun {
		fmt.Fprint(g.streams.Out, plan.String())
		return true, nil
	}
	if err := reconcile.Preflight(ctx, plan, rt); err != nil {
		return false, err
	}
	for _, w := range plan.Warnings {
		progress.Warn(w)
	}
	return false, nil
}

// apply runs plan with the global --parallel and progress titled title.
func (g *globalOptions) apply(ctx context.Context, rt runtime.Runtime, plan *planner.Plan, title string) error {
	_, err := reconcile.Apply(ctx, plan, rt, reconcile.Options{Parallel: g.parallel, Progress: g.newProgress(title).Event})
	return err
}

// checkServices fails when a named service is not in the project.
func checkServices(p *project.Project, services []string) error {
	if p == nil {
		return nil
	}
	for _, s := range services {
		if _, err := p.GetService(s); err != nil {
			return fmt.Errorf("no such service: %s (services: %s)", s, strings.Join(p.ServiceNames(), ", "))
		}
	}
	return nil
}
