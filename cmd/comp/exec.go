package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
)

type execOptions struct {
	detach      bool
	noTTY       bool
	interactive bool
	env         []string
	user        string
	workdir     string
	index       int
	privileged  bool
}

func newExecCmd(g *globalOptions) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), g, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: Run command in the background")
	f.BoolVarP(&o.noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation. By default `comp exec` allocates a TTY when stdin and stdout are terminals")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	_ = f.MarkHidden("interactive")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringVarP(&o.user, "user", "u", "", "Run the command as this user")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Path to workdir directory for this command")
	f.IntVar(&o.index, "index", 0, "Index of the container if service has multiple replicas (default: the first running one)")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the process")
	return cmd
}

// runExec runs command in the running container of service and ends with the command's exit
// status.
func runExec(ctx context.Context, g *globalOptions, o *execOptions, service string, command []string) error {
	name, _, rt, err := g.openProject(ctx, []string{service})
	if err != nil {
		return err
	}
	defer rt.Close()
	c, err := serviceContainer(ctx, rt, name, service, o.index)
	if err != nil {
		return err
	}
	tty := g.streams.useTTY(o.noTTY)
	spec := runtime.ExecSpec{
		Cmd:        command,
		Env:        resolveEnv(o.env),
		User:       o.user,
		WorkingDir: o.workdir,
		Privileged: o.privileged,
		Tty:        tty,
		Detach:     o.detach,
	}
	if !o.detach {
		spec.Stdout = g.streams.Out
		if tty {
			// A TTY has one output stream.
			spec.Stderr = nil
		} else {
			spec.Stderr = g.streams.Err
		}
		if o.interactive {
			spec.Stdin = g.streams.In
		}
	}
	if tty && !o.detach {
		restore, err := g.streams.RawInput()
		if err != nil {
			return err
		}
		defer restore()
	}
	code, err := rt.Exec(ctx, c.ID, spec)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}
