package container

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/comp-dev/comp/runtime"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// defaultPath is Docker's PATH for a container whose image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is everything needed to start a container.
type Config struct {
	// ID names the container: [a-zA-Z0-9_.+-], unique under the Manager's state root.
	ID string
	// Rootfs is the container's root folder on the host (an overlay from MountRootfs, or any
	// folder).
	Rootfs  string
	Process Process

	// Hostname defaults to the first 12 characters of ID (Docker's short ID), or the host's
	// with Network "host".
	Hostname, Domainname string
	// Mounts are bind mounts, resolved: every Source is a host path that exists.
	Mounts []Mount
	// Tmpfs maps a target to its mount options ("size=64m,mode=1777"). Like Docker, a tmpfs
	// is noexec, nosuid and nodev unless the options say exec, suid or dev.
	Tmpfs map[string]string
	// Network is "host" to join the host's network namespace, "" for a new namespace with only
	// lo (up), or the path of a network namespace to join (lo is brought up in it).
	Network string
	// Resources are the cgroup limits; ShmSize sizes /dev/shm (default 64 MiB).
	Resources       runtime.Resources
	CapAdd, CapDrop []string // "NET_RAW" or "CAP_NET_RAW", "ALL"
	Privileged      bool
	ReadOnly        bool
	// SecurityOpt takes "no-new-privileges[:true|false]", "seccomp=unconfined" and
	// "seccomp=PATH" (a profile in Docker's JSON format); others are an error.
	SecurityOpt []string
	Sysctls     map[string]string
	// Init runs comp's own minimal init as PID 1 (it forwards signals and reaps zombies) with
	// the process as its child, like Docker's `init: true`. It bind-mounts the comp binary
	// read-only at /sbin/comp-init, so the binary must be static (else ErrNotStatic).
	Init bool

	// Devices (see devices.go). Devices are host device nodes made in the container, each
	// with a device cgroup rule; DeviceRequests are resolved to CDI devices from the specs in
	// CDISpecDirs (see CDISpecDirs), whose container edits are applied at every start.
	Devices        []runtime.DeviceMapping
	DeviceRequests []runtime.DeviceRequest
	CDISpecDirs    []string

	// Kernel knobs (issue 13); CheckHost says which this host can apply.
	//
	// IPC is "" for an IPC namespace of the container's own with a /dev/shm tmpfs, "none" for
	// one with no /dev/shm, "host" for the host's, or the path of one to join
	// (/proc/PID/ns/ipc). ShmSource, when set, is bind-mounted at /dev/shm instead of a tmpfs
	// (the host's /dev/shm, or a joined container's /proc/PID/root/dev/shm).
	IPC, ShmSource string
	// PID is "" for a PID namespace of the container's own, "host", or the path of one to join.
	PID string
	// UTSHost shares the host's UTS namespace; Hostname and Domainname must then be "".
	UTSHost bool
	// CgroupNS is "" (Docker's default: private on cgroup v2, the host's on v1), "host" or
	// "private".
	CgroupNS string
	// CgroupParent is the cgroup the container's is made in (default /comp); a relative path
	// is relative to this process's cgroup.
	CgroupParent string
	// Ulimits are the resource limits of the container's processes (Docker's names).
	Ulimits []runtime.Ulimit
	// OomScoreAdj and Umask are the container processes'; nil leaves this process's.
	OomScoreAdj *int
	Umask       *uint32
	// Annotations are the OCI annotations, kept in libcontainer's state.
	Annotations map[string]string
	// DeviceCgroupRules are allowed on top of the default device rules ("c 1:3 mr").
	DeviceCgroupRules []string
}

// Mount is a bind mount into the container.
type Mount struct {
	Source   string // host path
	Target   string // absolute path in the container
	ReadOnly bool
}

// Process is the command a container (or an exec) runs, and its standard streams.
type Process struct {
	Args []string
	Env  []string // KEY=VALUE
	Cwd  string   // absolute; "" is "/". A missing folder is created, as Docker does.
	// User is "uid[:gid]", "name[:group]" (resolved in the rootfs's /etc/passwd and
	// /etc/group) or "" for root.
	User string
	// GroupAdd are supplementary groups on top of the user's (group_add): names are looked up
	// in the rootfs's /etc/group, numbers taken as they are.
	GroupAdd []string
	// Tty gives the process a terminal; its output (both streams) goes to Stdout.
	Tty bool
	// The streams: nil is /dev/null. An *os.File is passed to the process as it is; any
	// other reader or writer is served through a pipe by a goroutine.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Detach (Manager.Exec only) returns once the process runs, without waiting for it: its
	// streams are /dev/null and it has no terminal, since nothing of this process serves them
	// after it exits.
	Detach bool
	// Privileged (Manager.Exec only) gives the process every capability, whatever the
	// container's, as `docker exec --privileged` does (a lifecycle hook's privileged: true).
	Privileged bool
}

// ExecProcess is the process of an exec (`comp exec`, a lifecycle hook) in a container made
// from spec and img, as Docker builds one: the container's environment with e.Env set over
// it, and the container's working directory and user unless e names its own.
func ExecProcess(spec runtime.ContainerSpec, img v1.Config, e runtime.ExecSpec) (Process, error) {
	proc, err := ResolveProcess(spec, img)
	if err != nil {
		return Process{}, err
	}
	// As on Docker, an exec'd process has the container's group_add groups too.
	p := Process{Args: e.Cmd, Env: setEnv(proc.Env, e.Env), Cwd: proc.Cwd, User: proc.User, GroupAdd: proc.GroupAdd,
		Tty: e.Tty, Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr, Detach: e.Detach, Privileged: e.Privileged}
	if e.WorkingDir != "" {
		p.Cwd = e.WorkingDir
	}
	if e.User != "" {
		p.User = e.User
	}
	return p, nil
}

// setEnv returns env with each KEY=VALUE of over replacing the entry of its key, or added: a
// process's getenv takes the first of two entries, so a second one would not override.
func setEnv(env, over []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { k, _, _ := strings.Cut(e, "="); return k == key })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// ResolveProcess applies Docker's rules to build a container's process from its spec and its
// image's config: spec.Entrypoint and spec.Command override the image's (an explicit
// entrypoint also clears the image's Cmd unless spec.Command is given); the environment is
// Docker's PATH, HOSTNAME (when spec.Hostname is set) and TERM (with a tty), overridden by the
// image's Env, overridden by spec.Env (a bare "KEY" removes KEY); the working directory
// defaults to the image's, else "/"; the user defaults to the image's. Streams are left unset.
func ResolveProcess(spec runtime.ContainerSpec, img v1.Config) (Process, error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if spec.Entrypoint != nil {
		entrypoint, cmd = spec.Entrypoint, nil
	}
	if spec.Command != nil {
		cmd = spec.Command
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return Process{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("container %s: no command specified", spec.Name))
	}

	env := []string{"PATH=" + defaultPath}
	if spec.Hostname != "" {
		env = append(env, "HOSTNAME="+spec.Hostname)
	}
	if spec.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(mergeEnv(env, img.Env), spec.Env)

	cwd := img.WorkingDir
	if spec.WorkingDir != "" {
		cwd = spec.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return Process{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("container %s: working directory %q is not an absolute path", spec.Name, cwd))
	}

	user := img.User
	if spec.User != "" {
		user = spec.User
	}
	return Process{Args: args, Env: env, Cwd: path.Clean(cwd), User: user, GroupAdd: spec.GroupAdd, Tty: spec.Tty}, nil
}

// mergeEnv returns base with each KEY=VALUE of over replacing the same KEY or appended; a
// bare KEY in over removes KEY.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		key, _, hasValue := strings.Cut(kv, "=")
		i := indexEnv(out, key)
		switch {
		case !hasValue && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case !hasValue:
		case i >= 0:
			out[i] = kv
		default:
			out = append(out, kv)
		}
	}
	return out
}

func indexEnv(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

// lookupEnv returns the value of key in env.
func lookupEnv(env []string, key string) (string, bool) {
	if i := indexEnv(env, key); i >= 0 {
		_, v, _ := strings.Cut(env[i], "=")
		return v, true
	}
	return "", false
}
