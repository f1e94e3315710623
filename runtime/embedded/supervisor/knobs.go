package supervisor

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// checkKnobs refuses the kernel knobs of spec (issue 13) that the embedded runtime has no
// way to honour, or that this host cannot apply (container.CheckHost).
func checkKnobs(spec runtime.ContainerSpec) error {
	notImplemented := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(format, args...))
	}
	switch m := spec.IPC.Mode; m {
	case "", runtime.NamespacePrivate, runtime.NamespaceShareable, runtime.NamespaceNone, runtime.NamespaceHost, runtime.NamespaceContainer:
	default:
		return notImplemented("ipc %q is not supported by the embedded runtime: use private, shareable, none, host, service:NAME or container:NAME", m)
	}
	switch m := spec.PID.Mode; m {
	case "", runtime.NamespaceHost, runtime.NamespaceContainer:
	default:
		return notImplemented("pid %q is not supported by the embedded runtime: use host, service:NAME or container:NAME", m)
	}
	switch {
	case spec.UTS != "" && spec.UTS != runtime.NamespaceHost:
		return notImplemented("uts %q is not supported: the only mode is host", spec.UTS)
	case spec.UTS == runtime.NamespaceHost && (spec.Hostname != "" || spec.Domainname != ""):
		return runtime.Classify(runtime.ErrInvalidArgument, errors.New(
			"hostname and domainname cannot be set with uts: host (the container has the host's): remove one"))
	case spec.UsernsMode != "" && spec.UsernsMode != runtime.NamespaceHost:
		return notImplemented("userns_mode %q: the embedded runtime does not run containers in a user namespace: remove userns_mode, or use --runtime docker", spec.UsernsMode)
	case len(spec.StorageOpt) > 0:
		return notImplemented("storage_opt is not supported by the embedded runtime (a container's root is an overlay on the host's file system, with no size or driver options): remove storage_opt, or use --runtime docker")
	case spec.OCIRuntime != "" && spec.OCIRuntime != "runc":
		return notImplemented("runtime %q: the embedded runtime runs containers with its built-in runc (libcontainer) only: remove runtime, or use --runtime docker", spec.OCIRuntime)
	case spec.Isolation != "" && spec.Isolation != "default":
		return notImplemented("isolation %q: Linux containers only have the default isolation: remove isolation", spec.Isolation)
	}
	return container.CheckHost(spec)
}

// knobs fills cfg's kernel knobs from rec's spec: the IPC and PID namespaces to use (a joined
// container must be running, and one whose IPC it joins must have made it shareable, as on
// Docker) and the rest as the spec has them.
func (s *Supervisor) knobs(rec *state.Record, cfg *container.Config) error {
	spec := rec.Spec
	switch ipc := spec.IPC; ipc.Mode {
	case runtime.NamespaceHost:
		cfg.IPC, cfg.ShmSource = "host", "/dev/shm"
	case runtime.NamespaceNone:
		cfg.IPC = "none"
	case runtime.NamespaceShareable:
		// Its /dev/shm is a tmpfs on the host, which joiners bind too.
		shm, err := container.MountShm(filepath.Join(s.layout.Container(rec.ID), "fs"), spec.Resources.ShmSize)
		if err != nil {
			return err
		}
		cfg.ShmSource = shm
	case runtime.NamespaceContainer:
		other, err := s.running("ipc", ipc)
		if err != nil {
			return err
		}
		// A joiner's donor may have joined another's namespace: the /dev/shm is that one's.
		owner := other
		for i := 0; owner.Spec.IPC.Mode == runtime.NamespaceContainer && i < 8; i++ {
			if owner, err = s.layout.Find(owner.Spec.IPC.Container); err != nil {
				return fmt.Errorf("ipc %s: %w", ipc, err)
			}
		}
		switch owner.Spec.IPC.Mode {
		case runtime.NamespaceShareable:
			cfg.IPC = fmt.Sprintf("/proc/%d/ns/ipc", other.Pid)
			cfg.ShmSource = filepath.Join(s.layout.Container(owner.ID), "fs", container.ShmDir)
		case runtime.NamespaceHost:
			cfg.IPC, cfg.ShmSource = "host", "/dev/shm"
		default:
			fix := "set ipc: shareable on its service"
			if svc := owner.Spec.Labels[runtime.LabelService]; svc != "" {
				fix = "set services." + svc + ".ipc: shareable"
			}
			return runtime.Classify(runtime.ErrConflict, fmt.Errorf(
				"ipc %s: container %s has a private IPC namespace, which %s cannot join: %s",
				ipc, owner.Name, rec.Name, fix))
		}
	}
	switch pid := spec.PID; pid.Mode {
	case runtime.NamespaceHost:
		cfg.PID = "host"
	case runtime.NamespaceContainer:
		other, err := s.running("pid", pid)
		if err != nil {
			return err
		}
		cfg.PID = fmt.Sprintf("/proc/%d/ns/pid", other.Pid)
	}
	cfg.UTSHost = spec.UTS == runtime.NamespaceHost
	cfg.CgroupNS = spec.Cgroup
	cfg.CgroupParent = spec.CgroupParent
	cfg.Ulimits = spec.Ulimits
	cfg.OomScoreAdj = spec.OomScoreAdj
	cfg.Umask = spec.Umask
	cfg.Annotations = spec.Annotations
	cfg.DeviceCgroupRules = spec.DeviceCgroupRules
	return nil
}

// running returns the record of the container whose namespace ns joins (key names the compose
// key), which must be running.
func (s *Supervisor) running(key string, ns runtime.Namespace) (*state.Record, error) {
	other, err := s.layout.Find(ns.Container)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, ns, err)
	}
	if other.State != state.Running || other.Pid == 0 {
		return nil, runtime.Classify(runtime.ErrConflict, fmt.Errorf("%s %s: container %s is not running", key, ns, other.Name))
	}
	return other, nil
}
