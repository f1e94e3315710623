// Package volume keeps the embedded runtime's volumes: one folder per volume under the state
// directory, its data in _data and its labels in meta.json. Only `down --volumes` and
// `volume rm` ever delete one.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// LabelAnonymous marks a volume made for one container (an image VOLUME or a mount with no
// source), as Docker marks them.
const LabelAnonymous = "com.docker.volume.anonymous"

// Store is the folder of all volumes.
type Store struct {
	Dir string
}

type meta struct {
	Name      string
	Driver    string
	Labels    map[string]string
	CreatedAt time.Time
}

// Path is the folder that is mounted for volume name.
func (s Store) Path(name string) string { return filepath.Join(s.Dir, name, "_data") }

// Create makes volume spec.Name; an existing volume is returned as it is (ErrConflict is for
// callers that must know, through errors.Is, that it was there).
func (s Store) Create(spec runtime.VolumeSpec) (runtime.Volume, error) {
	if err := state.CheckName("volume", spec.Name); err != nil {
		return runtime.Volume{}, err
	}
	if spec.Driver != "" && spec.Driver != "local" {
		return runtime.Volume{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("volume %s: driver %q is not supported by the embedded runtime (only local)", spec.Name, spec.Driver))
	}
	if len(spec.DriverOpts) > 0 {
		return runtime.Volume{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("volume %s: driver_opts are not supported by the embedded runtime yet", spec.Name))
	}
	if v, err := s.Inspect(spec.Name); err == nil {
		return v, runtime.Classify(runtime.ErrConflict, fmt.Errorf("volume %s already exists", spec.Name))
	}
	if err := os.MkdirAll(s.Path(spec.Name), 0o755); err != nil {
		return runtime.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	m := meta{Name: spec.Name, Driver: "local", Labels: spec.Labels, CreatedAt: time.Now().UTC()}
	if err := state.WriteJSON(filepath.Join(s.Dir, spec.Name, "meta.json"), m); err != nil {
		return runtime.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	return m.volume(s), nil
}

// CreateAnonymous makes a volume with a random name for one container.
func (s Store) CreateAnonymous(labels map[string]string) (runtime.Volume, error) {
	b := make([]byte, 32)
	rand.Read(b)
	l := map[string]string{LabelAnonymous: ""}
	for k, v := range labels {
		l[k] = v
	}
	return s.Create(runtime.VolumeSpec{Name: hex.EncodeToString(b), Labels: l})
}

// Inspect returns volume name, or ErrNotFound.
func (s Store) Inspect(name string) (runtime.Volume, error) {
	if err := state.CheckName("volume", name); err != nil {
		return runtime.Volume{}, err
	}
	var m meta
	if err := state.ReadJSON(filepath.Join(s.Dir, name, "meta.json"), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return runtime.Volume{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such volume: %s", name))
		}
		return runtime.Volume{}, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	return m.volume(s), nil
}

// List returns the volumes whose labels match opts (see runtime.ListOptions).
func (s Store) List(opts runtime.ListOptions) ([]runtime.Volume, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []runtime.Volume
	for _, e := range entries {
		v, err := s.Inspect(e.Name())
		if err != nil || !opts.Match(v.Labels) {
			continue
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes volume name and its data. inUse says whether a container mounts it.
func (s Store) Remove(name string, force bool, inUse func(name string) bool) error {
	if _, err := s.Inspect(name); err != nil {
		return err
	}
	if inUse != nil && inUse(name) && !force {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("remove volume %s: volume is in use", name))
	}
	// Rename first so that a crash half-way leaves no volume that looks whole.
	trash := filepath.Join(s.Dir, ".trash-"+name)
	if err := os.Rename(filepath.Join(s.Dir, name), trash); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return os.RemoveAll(trash)
}

func (m meta) volume(s Store) runtime.Volume {
	return runtime.Volume{Name: m.Name, Driver: m.Driver, Labels: m.Labels, Mountpoint: s.Path(m.Name), CreatedAt: m.CreatedAt}
}
