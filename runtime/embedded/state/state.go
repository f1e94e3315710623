// Package state is the embedded runtime's on-disk state: where everything lives under the state
// directories, the container records the supervisor writes and every comp command reads, and
// the atomic writes and locks that keep them whole when processes crash or race.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// Layout names the folders of the embedded runtime. Root holds what must survive a reboot
// (images, volumes, containers' upper folders and logs); Run holds what must not (sockets,
// libcontainer state, pids).
type Layout struct {
	Root string
	Run  string
}

// DefaultLayout is /var/lib/comp and /run/comp, or $COMP_ROOT and $COMP_ROOT/run when
// COMP_ROOT is set (tests use it to keep their state apart).
func DefaultLayout() Layout {
	if root := os.Getenv("COMP_ROOT"); root != "" {
		return LayoutAt(root)
	}
	return Layout{Root: "/var/lib/comp", Run: "/run/comp"}
}

// LayoutAt is the layout COMP_ROOT=root selects: root, and root/run.
func LayoutAt(root string) Layout {
	return Layout{Root: root, Run: filepath.Join(root, "run")}
}

// Images is the image store's folder.
func (l Layout) Images() string { return filepath.Join(l.Root, "images") }

// Volumes holds one folder per named volume.
func (l Layout) Volumes() string { return filepath.Join(l.Root, "volumes") }

// Containers holds one folder per container: its record, root filesystem and log.
func (l Layout) Containers() string { return filepath.Join(l.Root, "containers") }

// Container is the folder of container id.
func (l Layout) Container(id string) string { return filepath.Join(l.Containers(), id) }

// Bin holds the lean core binaries supervisors run from (package core).
func (l Layout) Bin() string { return filepath.Join(l.Root, "bin") }

// Libcontainer is libcontainer's state root.
func (l Layout) Libcontainer() string { return filepath.Join(l.Run, "libcontainer") }

// Networks holds the bridge networks' state (addresses, rules).
func (l Layout) Networks() string { return filepath.Join(l.Root, "networks") }

// Projects holds per-project locks and supervisor sockets.
func (l Layout) Projects() string { return filepath.Join(l.Run, "projects") }

// Socket is the unix socket of project's supervisor.
func (l Layout) Socket(project string) string {
	return filepath.Join(l.Projects(), project+".sock")
}

// SupervisorLock is held by project's running supervisor for as long as it lives.
func (l Layout) SupervisorLock(project string) string {
	return filepath.Join(l.Projects(), project+".supervisor")
}

// ProjectLock serialises comp commands that change project.
func (l Layout) ProjectLock(project string) string {
	return filepath.Join(l.Projects(), project+".lock")
}

var safeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses a project, volume or container name that could escape the state
// directory or is otherwise unusable as a file name.
func CheckName(kind, name string) error {
	if !safeName.MatchString(name) || strings.Contains(name, "..") || len(name) > 200 {
		return runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("invalid %s name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", kind, name))
	}
	return nil
}

// Container states, as runtime.Container reports them.
const (
	Created    = runtime.StateCreated
	Running    = runtime.StateRunning
	Restarting = runtime.StateRestarting
	Exited     = runtime.StateExited
	Dead       = runtime.StateDead
)

// Record is everything known about one container; the supervisor of its project is its only
// writer once it exists.
type Record struct {
	ID      string
	Name    string
	Created time.Time
	Spec    runtime.ContainerSpec
	// ImageID is the ID of the image the container runs; Layers its unpacked layer folders.
	ImageID string
	Layers  []string
	// Command is the command line the container runs (entrypoint and command, resolved with
	// the image's), as ps shows it.
	Command string
	// Anonymous lists the anonymous volumes made for the container (removed with it on -v).
	Anonymous []string

	State         string
	Pid           int
	StartedAt     time.Time
	FinishedAt    time.Time
	ExitCode      int
	Error         string
	RestartCount  int
	StoppedByUser bool
	Health        string
	// Restart is the restart policy tracker's saved state.
	Restart json.RawMessage `json:",omitempty"`
	// Endpoints are the container's addresses on its networks while it runs.
	Endpoints []Endpoint `json:",omitempty"`
	// Ports are the host ports published for it while it runs.
	Ports []runtime.Port `json:",omitempty"`
}

// Endpoint is a running container's address on one network, and the names it answers to there.
type Endpoint struct {
	Network string
	IP      string
	MAC     string
	Gateway string
	Aliases []string
}

// Project is the record's compose project.
func (r *Record) Project() string { return r.Spec.Labels[runtime.LabelProject] }

// Path of the record file of container id.
func (l Layout) recordPath(id string) string { return filepath.Join(l.Container(id), "record.json") }

// LogPath is the container's log file.
func (l Layout) LogPath(id string) string { return filepath.Join(l.Container(id), "log") }

// WriteRecord saves r atomically.
func (l Layout) WriteRecord(r *Record) error {
	return WriteJSON(l.recordPath(r.ID), r)
}

// ReadRecord reads container id's record; ErrNotFound when there is none.
func (l Layout) ReadRecord(id string) (*Record, error) {
	var r Record
	if err := ReadJSON(l.recordPath(id), &r); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such container: %s", id))
		}
		return nil, err
	}
	return &r, nil
}

// Records reads every container record, sorted by creation time. A folder without a readable
// record (a create that crashed half-way) is skipped.
func (l Layout) Records() ([]*Record, error) {
	entries, err := os.ReadDir(l.Containers())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Record
	for _, e := range entries {
		r, err := l.ReadRecord(e.Name())
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Find returns the record whose ID, unique ID prefix or name is idOrName.
func (l Layout) Find(idOrName string) (*Record, error) {
	if r, err := l.ReadRecord(idOrName); err == nil {
		return r, nil
	}
	records, err := l.Records()
	if err != nil {
		return nil, err
	}
	var match *Record
	for _, r := range records {
		if r.Name == idOrName {
			return r, nil
		}
		if len(idOrName) >= 4 && strings.HasPrefix(r.ID, idOrName) {
			if match != nil {
				return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("container ID prefix %q is ambiguous", idOrName))
			}
			match = r
		}
	}
	if match == nil {
		return nil, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such container: %s", idOrName))
	}
	return match, nil
}

// WriteJSON writes v to path atomically: a temporary file in the same folder, synced, then
// renamed over path, so a reader sees the old or the new content and never half of it.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic replaces path with b: a temporary file beside it, synced, renamed over it.
func WriteFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadJSON reads path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Lock takes an exclusive flock on path (created if missing) and returns its release. With
// wait false it fails at once (unix.EWOULDBLOCK) when another process holds it.
func Lock(path string, wait bool) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// UnmarshalJSON reads a record, also one that a comp from before typed references wrote
// (network_mode, ipc, pid and volumes_from as Docker's "container:NAME[:MODE]" strings), so
// that containers made by the previous version stay visible and removable.
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	err := json.Unmarshal(b, (*plain)(r))
	if err == nil {
		return nil
	}
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return err
	}
	spec, ok := doc["Spec"].(map[string]any)
	if !ok {
		return err
	}
	for _, key := range []string{"NetworkMode", "IPC", "PID"} {
		if s, ok := spec[key].(string); ok {
			mode, name, _ := strings.Cut(s, ":")
			spec[key] = runtime.Namespace{Mode: mode, Container: name}
		}
	}
	if list, ok := spec["VolumesFrom"].([]any); ok {
		for i, v := range list {
			if s, ok := v.(string); ok {
				name, mode, _ := strings.Cut(strings.TrimPrefix(s, "container:"), ":")
				list[i] = runtime.VolumesFrom{Container: name, Mode: mode}
			}
		}
	}
	fixed, merr := json.Marshal(doc)
	if merr != nil {
		return err
	}
	return json.Unmarshal(fixed, (*plain)(r))
}
