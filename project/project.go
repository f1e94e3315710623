// Package project loads compose files into comp's desired state and derives from it everything
// that has a name: containers, networks, volumes, their labels and their config hash. It does no
// I/O beyond reading the compose and env files, and never talks to a runtime.
package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Options are the global flags that select and shape a project, as Docker Compose names them.
// Empty fields fall back on COMPOSE_* variables and default file discovery.
type Options struct {
	// Files are -f paths, in order; empty means COMPOSE_FILE, else discovery of compose.yaml,
	// compose.yml, docker-compose.yml, docker-compose.yaml (plus the override file) in the
	// working folder and its parents.
	Files []string
	// Name is -p; empty means COMPOSE_PROJECT_NAME, the top-level name:, or the folder name.
	Name string
	// Dir is --project-directory; empty means the folder of the first compose file.
	Dir string
	// Profiles are --profile values; empty means COMPOSE_PROFILES.
	Profiles []string
	// EnvFiles are --env-file values; empty means COMPOSE_ENV_FILES (comma-separated), else
	// .env in the project folder.
	EnvFiles []string
	// Services limits the project to these services and their dependencies; empty means all.
	Services []string
	// NoDeps leaves the dependencies of Services out (--no-deps).
	NoDeps bool
}

// Project is a loaded, normalized and validated compose project: the desired state.
type Project struct {
	// Compose is the normalized model as compose-go loaded it.
	*types.Project
	// EnvFiles are the env files used for interpolation (for the environment_file label).
	EnvFiles []string
	// AllServices names every service of the compose files, enabled or not, selected or not:
	// containers of any other service are orphans.
	AllServices []string
}

// Load reads, merges, interpolates and validates the compose files that opts select. Errors name
// the file and the key at fault and, where there is one, say what to do.
func Load(ctx context.Context, opts Options) (*Project, error) {
	po, err := cli.NewProjectOptions(opts.Files,
		cli.WithWorkingDirectory(opts.Dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles(opts.EnvFiles)...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithDefaultProfiles(opts.Profiles...),
		cli.WithName(opts.Name),
	)
	if err != nil {
		return nil, fmt.Errorf("load compose project: %w", err)
	}
	if len(po.ConfigPaths) == 0 {
		wd, _ := os.Getwd()
		return nil, fmt.Errorf("no configuration file provided: not found in %s or its parents "+
			"(looked for %s); pass one with -f", wd, strings.Join(cli.DefaultFileNames, ", "))
	}
	for _, f := range po.ConfigPaths {
		if f == "-" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("open compose file %s: %w; check the -f path or COMPOSE_FILE", f, errors.Unwrap(err))
		}
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, explainLoadError(po.ConfigPaths, err)
	}
	all := append(p.ServiceNames(), p.DisabledServiceNames()...)
	if len(opts.Services) > 0 {
		for _, s := range opts.Services {
			if _, err := p.GetService(s); err != nil {
				if _, derr := p.GetDisabledService(s); derr == nil {
					return nil, fmt.Errorf("service %q is disabled by its profiles; enable one with --profile", s)
				}
				return nil, fmt.Errorf("no such service: %s (services in %s: %s)", s,
					strings.Join(p.ComposeFiles, ", "), strings.Join(p.ServiceNames(), ", "))
			}
		}
		var deps []types.DependencyOption
		if opts.NoDeps {
			deps = append(deps, types.IgnoreDependencies)
		}
		p, err = p.WithSelectedServices(opts.Services, deps...)
		if err != nil {
			return nil, err
		}
	}
	p, err = p.WithServicesTransform(func(name string, s types.ServiceConfig) (types.ServiceConfig, error) {
		if s.Image == "" && s.Build != nil {
			// As Docker Compose: a built image without image: is named <project>-<service>.
			s.Image = p.Name + Separator + name
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	if err := validate(p); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(p.ComposeFiles, ", "), err)
	}
	return &Project{Project: p, EnvFiles: po.EnvFiles, AllServices: all}, nil
}

// explainLoadError makes sure a load error names the file(s) it comes from, and says what to
// do where compose-go does not.
func explainLoadError(files []string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "unsupported env_file format") {
		err = fmt.Errorf("%w: an env_file's format is dotenv (the default) or raw", err)
	}
	for _, f := range files {
		if strings.Contains(msg, f) {
			return err
		}
	}
	return fmt.Errorf("%s: %w", strings.Join(files, ", "), err)
}

// validate checks what compose-go leaves to the engine but comp wants to refuse before touching
// anything.
func validate(p *types.Project) error {
	for _, s := range p.Services {
		if s.Image == "" && s.Build == nil {
			return fmt.Errorf("service %q has neither an image nor a build context specified: set services.%s.image", s.Name, s.Name)
		}
		if s.Build != nil {
			if ctx := s.Build.Context; strings.Contains(ctx, "://") || strings.HasPrefix(ctx, "git@") {
				return fmt.Errorf("services.%s.build.context: %s is a URL; comp builds from a local folder only: clone it and point build.context at the folder", s.Name, ctx)
			}
		}
		if strings.HasPrefix(s.NetworkMode, "service:") {
			dep := strings.TrimPrefix(s.NetworkMode, "service:")
			if _, err := p.GetService(dep); err != nil {
				return fmt.Errorf("services.%s.network_mode: service %q is not defined", s.Name, dep)
			}
		}
		for _, vf := range s.VolumesFrom {
			if err := validVolumesFrom(p, vf); err != nil {
				return fmt.Errorf("services.%s.volumes_from: %q: %w", s.Name, vf, err)
			}
		}
	}
	return nil
}

// validVolumesFrom checks one volumes_from entry: "SERVICE[:MODE]" or "container:NAME[:MODE]",
// MODE being ro or rw.
func validVolumesFrom(p *types.Project, vf string) error {
	ref := parseVolumesFrom(vf)
	switch {
	case ref.service == "" && ref.Container == "":
		return errors.New("no container name after container:")
	case ref.service != "":
		if _, err := p.GetService(ref.service); err != nil {
			return fmt.Errorf("service %q is not defined (use container:NAME for a container outside the project)", ref.service)
		}
	}
	if ref.Mode != "" && ref.Mode != "ro" && ref.Mode != "rw" {
		return fmt.Errorf("the mode must be ro or rw, not %q", ref.Mode)
	}
	return nil
}
