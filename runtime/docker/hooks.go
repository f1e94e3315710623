package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/comp-dev/comp/runtime"
)

// labelHooks holds a container's lifecycle hooks as JSON. The Engine keeps no hooks of its
// own, and any comp process may start or stop the container later (`comp stop` reads no
// compose file): the container carries them. The config hash covers the hooks already, so
// the label never disagrees with it.
const labelHooks = "dev.comp.hooks"

// storedHooks is labelHooks' value.
type storedHooks struct {
	PostStart []runtime.Hook `json:"post_start,omitempty"`
	PreStop   []runtime.Hook `json:"pre_stop,omitempty"`
}

// withHooksLabel returns spec's labels with labelHooks added when it has hooks (a copy: the
// spec's map is the caller's).
func withHooksLabel(spec runtime.ContainerSpec) (map[string]string, error) {
	if len(spec.PostStart) == 0 && len(spec.PreStop) == 0 {
		return spec.Labels, nil
	}
	b, err := json.Marshal(storedHooks{PostStart: spec.PostStart, PreStop: spec.PreStop})
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelHooks] = string(b)
	return labels, nil
}

// inspected is what a start or stop needs to know of a container before acting.
type inspected struct {
	name    string
	running bool
	hooks   storedHooks
}

// inspectForHooks reads container id's name, whether it runs, and its hooks; op names the
// operation in the error ("start", "stop").
func (r *Runtime) inspectForHooks(ctx context.Context, op, id string) (inspected, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return inspected{}, fmt.Errorf("%s container %s: %w", op, id, classify(err))
	}
	in := inspected{name: id}
	if c.ContainerJSONBase != nil {
		in.name = strings.TrimPrefix(c.Name, "/")
		in.running = c.State != nil && (c.State.Running || c.State.Restarting)
	}
	if c.Config != nil {
		if v := c.Config.Labels[labelHooks]; v != "" {
			if err := json.Unmarshal([]byte(v), &in.hooks); err != nil {
				return inspected{}, fmt.Errorf("%s container %s: label %s: %w", op, in.name, labelHooks, err)
			}
		}
	}
	return in, nil
}

// runHooks runs hooks in container id through the Engine's exec.
func (r *Runtime) runHooks(ctx context.Context, id, phase string, hooks []runtime.Hook) error {
	return runtime.RunHooks(ctx, phase, hooks, func(ctx context.Context, e runtime.ExecSpec) (int, error) {
		return r.Exec(ctx, id, e)
	})
}

// postStart runs the hooks of a container just started; one that fails stops it again (no
// pre_stop: it never fully started), so that the next `up` starts it and runs them again
// rather than keeping a container whose start failed.
func (r *Runtime) postStart(ctx context.Context, op, id string, in inspected) error {
	if len(in.hooks.PostStart) == 0 {
		return nil
	}
	err := r.runHooks(ctx, id, runtime.HookPostStart, in.hooks.PostStart)
	if err == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := r.cli.ContainerStop(sctx, id, container.StopOptions{Timeout: seconds(new(time.Duration))}); serr != nil {
		err = fmt.Errorf("%w (and stopping it again: %v)", err, classify(serr))
	}
	return fmt.Errorf("%s container %s: %w", op, in.name, err)
}

// preStop runs the hooks of a running container about to be stopped. One that fails fails the
// stop, as in Docker Compose; a container that stopped meanwhile has nothing to run them in.
func (r *Runtime) preStop(ctx context.Context, op, id string, in inspected) error {
	if !in.running || len(in.hooks.PreStop) == 0 {
		return nil
	}
	err := r.runHooks(ctx, id, runtime.HookPreStop, in.hooks.PreStop)
	if err == nil || errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("%s container %s: %w", op, in.name, err)
}
