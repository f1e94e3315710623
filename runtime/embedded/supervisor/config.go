package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/dns"
	"github.com/comp-dev/comp/runtime/embedded/restart"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// config builds the container's configuration from its record: mounts with volumes and bind
// sources resolved, its network namespace, and its /etc/hosts, /etc/hostname and
// /etc/resolv.conf.
func (s *Supervisor) config(rec *state.Record, rootfs string, net *netsetup, nameserver string) (container.Config, error) {
	spec := rec.Spec
	cfg := container.Config{
		ID:          rec.ID,
		Rootfs:      rootfs,
		Hostname:    spec.Hostname,
		Domainname:  spec.Domainname,
		Resources:   spec.Resources,
		CapAdd:      spec.CapAdd,
		CapDrop:     spec.CapDrop,
		Privileged:  spec.Privileged,
		ReadOnly:    spec.ReadOnly,
		SecurityOpt: spec.SecurityOpt,
		Sysctls:     spec.Sysctls,
		Init:        spec.Init != nil && *spec.Init,
		Tmpfs:       map[string]string{},

		Devices:        spec.Devices,
		DeviceRequests: spec.DeviceRequests,
		// The supervisor's environment is the one of the comp command that started it.
		CDISpecDirs: container.CDISpecDirs(),
	}
	for target, opts := range spec.Tmpfs {
		cfg.Tmpfs[target] = opts
	}
	switch mode := spec.NetworkMode; {
	case net != nil:
		cfg.Network = net.netns
	case mode.Mode == runtime.NamespaceHost:
		cfg.Network = "host"
	case mode.Mode == runtime.NamespaceNone || mode.Mode == "":
		cfg.Network = ""
	case mode.Mode == runtime.NamespaceContainer:
		other, err := s.layout.Find(mode.Container)
		if err != nil {
			return cfg, fmt.Errorf("network_mode %s: %w", mode, err)
		}
		if other.State != state.Running || other.Pid == 0 {
			return cfg, runtime.Classify(runtime.ErrConflict, fmt.Errorf("network_mode %s: container %s is not running", mode, other.Name))
		}
		cfg.Network = fmt.Sprintf("/proc/%d/ns/net", other.Pid)
	default:
		return cfg, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("network_mode %q is not supported by the embedded runtime yet", mode))
	}
	if err := s.knobs(rec, &cfg); err != nil {
		return cfg, err
	}
	if cfg.Hostname == "" && cfg.Network != "host" && !cfg.UTSHost {
		cfg.Hostname = rec.ID[:12]
	}
	for _, m := range spec.Mounts {
		switch m.Type {
		case runtime.MountBind:
			if m.CreateHostPath {
				if _, err := os.Stat(m.Source); os.IsNotExist(err) {
					if err := os.MkdirAll(m.Source, 0o755); err != nil {
						return cfg, fmt.Errorf("bind source %s: %w", m.Source, err)
					}
				}
			}
			if _, err := os.Stat(m.Source); err != nil {
				return cfg, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("bind source path %s does not exist", m.Source))
			}
			cfg.Mounts = append(cfg.Mounts, container.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case runtime.MountVolume:
			v, err := s.volumes().Inspect(m.Source)
			if err != nil {
				// Docker creates a named volume a container mounts when it is missing.
				if v, err = s.volumes().Create(runtime.VolumeSpec{Name: m.Source}); err != nil {
					return cfg, fmt.Errorf("volume %s: %w", m.Source, err)
				}
			}
			cfg.Mounts = append(cfg.Mounts, container.Mount{Source: v.Mountpoint, Target: m.Target, ReadOnly: m.ReadOnly})
		case runtime.MountTmpfs:
			var opts []string
			if m.TmpfsSize > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			if m.TmpfsMode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", m.TmpfsMode))
			}
			cfg.Tmpfs[m.Target] = strings.Join(opts, ",")
		default:
			return cfg, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("mount type %q is not supported by the embedded runtime", m.Type))
		}
	}
	files, err := fileMounts(spec.Files)
	if err != nil {
		return cfg, err
	}
	cfg.Mounts = append(cfg.Mounts, files...)
	etc, err := s.etcFiles(rec, cfg, nameserver)
	if err != nil {
		return cfg, err
	}
	cfg.Mounts = append(cfg.Mounts, etc...)
	return cfg, nil
}

// etcFiles writes the container's /etc/hosts, /etc/hostname and /etc/resolv.conf in its folder
// and returns their bind mounts. On the host network they are copies of the host's.
func (s *Supervisor) etcFiles(rec *state.Record, cfg container.Config, nameserver string) ([]container.Mount, error) {
	dir := s.layout.Container(rec.ID)
	hostname := cfg.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if cfg.Network == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	} else if len(rec.Endpoints) > 0 {
		// As Docker: the container's hostname is its address on its first network.
		hosts += rec.Endpoints[0].IP + "\t" + hostname + "\n"
	} else {
		hosts += "127.0.1.1\t" + hostname + "\n"
	}
	for _, h := range rec.Spec.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); ok {
			hosts += ip + "\t" + name + "\n"
		}
	}
	resolv := ""
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		resolv = string(b)
	}
	if nameserver != "" && len(rec.Spec.DNS) == 0 {
		// On a bridge network, names resolve through the network's DNS server on its gateway.
		resolv = dns.ResolvConf(nameserver, rec.Spec.DNSSearch, rec.Spec.DNSOptions)
	} else if len(rec.Spec.DNS) > 0 || len(rec.Spec.DNSSearch) > 0 || len(rec.Spec.DNSOptions) > 0 {
		resolv = ""
		for _, ns := range rec.Spec.DNS {
			resolv += "nameserver " + ns + "\n"
		}
		if len(rec.Spec.DNSSearch) > 0 {
			resolv += "search " + strings.Join(rec.Spec.DNSSearch, " ") + "\n"
		}
		if len(rec.Spec.DNSOptions) > 0 {
			resolv += "options " + strings.Join(rec.Spec.DNSOptions, " ") + "\n"
		}
	}
	files := map[string]string{"hosts": hosts, "hostname": hostname + "\n", "resolv.conf": resolv}
	var mounts []container.Mount
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		path := filepath.Join(dir, name)
		// Rewritten in place, never renamed: a running container's bind mount keeps the inode.
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, container.Mount{Source: path, Target: "/etc/" + name})
	}
	return mounts, nil
}

// newTracker starts the restart tracker of rec's policy (deploy.restart_policy's delay and
// window included).
func newTracker(rec *state.Record) *restart.Tracker {
	p := rec.Spec.Restart
	return restart.NewTrackerOptions(p, restart.Options{Delay: p.Delay, Window: p.Window})
}
