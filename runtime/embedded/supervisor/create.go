package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/fifo"
	"github.com/comp-dev/comp/runtime/embedded/state"
	"github.com/comp-dev/comp/runtime/embedded/volume"
)

func (s *Supervisor) volumes() volume.Store { return volume.Store{Dir: s.layout.Volumes()} }

// create records a new container: its image resolved, its name checked, its folder, FIFOs and
// anonymous volumes made. Nothing runs yet, and a create that fails leaves nothing behind.
func (s *Supervisor) create(spec runtime.ContainerSpec) (string, error) {
	rec, err := s.createRecord(spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	s.mu.Lock()
	s.entries[rec.ID] = &entry{rec: rec, tracker: newTracker(rec)}
	s.mu.Unlock()
	s.emit(rec, "create", 0)
	return rec.ID, nil
}

// createRecord does create's work, and undoes what it made when it fails.
func (s *Supervisor) createRecord(spec runtime.ContainerSpec) (_ *state.Record, retErr error) {
	if err := state.CheckName("container", spec.Name); err != nil {
		return nil, err
	}
	if spec.Labels[runtime.LabelProject] != s.project {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("it is not labelled with project %s", s.project))
	}
	if err := CheckSupported(spec); err != nil {
		return nil, err
	}
	img, err := s.images.Get(spec.Image)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Image, err)
	}
	// Names are unique across projects, as on Docker; the lock keeps two supervisors from
	// taking one name at once.
	release, err := state.Lock(filepath.Join(s.layout.Run, "names.lock"), true)
	if err != nil {
		return nil, err
	}
	defer release()
	if other, taken, err := s.names.Owner(spec.Name); err != nil {
		return nil, err
	} else if taken {
		return nil, runtime.Classify(runtime.ErrConflict,
			fmt.Errorf("the name is already in use by container %s", other[:min(12, len(other))]))
	}
	rec := &state.Record{ID: newID(), Name: spec.Name, Created: time.Now().UTC(), Spec: spec,
		ImageID: img.ID, Layers: img.Layers, State: state.Created}
	// Sources get filled in below: in a copy, not in the caller's spec.
	rec.Spec.Mounts = slices.Clone(spec.Mounts)
	dir := s.layout.Container(rec.ID)
	// Undone before the name is released: until then no other create can take the name.
	defer func() {
		if retErr != nil {
			s.undoCreate(rec)
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, f := range []string{"stdout", "stderr"} {
		if err := fifo.Make(filepath.Join(dir, f)); err != nil {
			return nil, err
		}
	}
	if err := s.writeFiles(rec); err != nil {
		return nil, err
	}
	if proc, err := container.ResolveProcess(spec, img.Config); err == nil {
		rec.Command = strings.Join(proc.Args, " ")
	}
	// Anonymous volumes: mounts with no source, and the image's VOLUMEs nothing else covers.
	covered := map[string]bool{}
	for i, m := range rec.Spec.Mounts {
		covered[m.Target] = true
		if m.Type == runtime.MountVolume && m.Source == "" {
			v, err := s.volumes().CreateAnonymous(nil)
			if err != nil {
				return nil, err
			}
			rec.Spec.Mounts[i].Source = v.Name
			rec.Anonymous = append(rec.Anonymous, v.Name)
		}
	}
	inherited, err := s.volumesFrom(spec.VolumesFrom, covered)
	if err != nil {
		return nil, err
	}
	rec.Spec.Mounts = append(rec.Spec.Mounts, inherited...)
	for target := range img.Config.Volumes {
		if covered[target] || rec.Spec.Tmpfs[target] != "" {
			continue
		}
		v, err := s.volumes().CreateAnonymous(nil)
		if err != nil {
			return nil, err
		}
		rec.Spec.Mounts = append(rec.Spec.Mounts, runtime.Mount{Type: runtime.MountVolume, Source: v.Name, Target: target})
		rec.Anonymous = append(rec.Anonymous, v.Name)
	}
	if err := s.layout.WriteRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// undoCreate removes what a failed createRecord made of rec: its anonymous volumes and its
// folder, with the FIFOs (and any record) in it.
func (s *Supervisor) undoCreate(rec *state.Record) {
	for _, v := range rec.Anonymous {
		if err := s.volumes().Remove(v, true, nil); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			s.logger.Printf("remove volume %s of the failed create of %s: %v", v, rec.Name, err)
		}
	}
	if err := os.RemoveAll(s.layout.Container(rec.ID)); err != nil {
		s.logger.Printf("remove the folder of the failed create of %s: %v", rec.Name, err)
	}
}

// CheckSupported refuses what the embedded runtime cannot do (yet) with spec, without touching
// anything: create calls it, and so does comp for every container of a plan before it creates
// any object (runtime.SpecChecker).
func CheckSupported(spec runtime.ContainerSpec) error {
	switch mode := spec.NetworkMode.Mode; {
	case mode == "bridge":
		return runtime.Classify(runtime.ErrNotImplemented, errors.New(
			"network_mode: bridge (Docker's default bridge network) is not supported by the embedded runtime: leave network_mode out to use the project's default network, or use --runtime docker"))
	case mode != "" && mode != runtime.NamespaceHost && mode != runtime.NamespaceNone && mode != runtime.NamespaceContainer:
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("network_mode %q is not supported by the embedded runtime yet", mode))
	case len(spec.Ports) > 0 && !bridged(spec) && mode != runtime.NamespaceHost:
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
			"published ports need a network: network_mode %q has none", mode))
	}
	for _, m := range spec.Mounts {
		if m.Type != runtime.MountBind && m.Type != runtime.MountVolume && m.Type != runtime.MountTmpfs {
			return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("mount type %q is not supported by the embedded runtime", m.Type))
		}
	}
	for _, p := range spec.Ports {
		if proto := strings.ToLower(p.Protocol); proto != "" && proto != "tcp" && proto != "udp" {
			return runtime.Classify(runtime.ErrNotImplemented,
				fmt.Errorf("port %d/%s: only tcp and udp are supported by the embedded runtime", p.ContainerPort, proto))
		}
	}
	// Devices missing from the host and requests no CDI spec satisfies stop here, not at start.
	if err := container.CheckDevices(spec.Devices, spec.DeviceRequests, container.CDISpecDirs()); err != nil {
		return err
	}
	return checkKnobs(spec)
}

// volumesFrom returns the volume and bind mounts of the containers refs name, as Docker's
// --volumes-from does: at the same targets, read-only with :ro, writable with :rw, else as the
// source has them. A target already in covered (the container's own mounts win, as on
// Docker) is skipped; the rest are added to covered.
func (s *Supervisor) volumesFrom(refs []runtime.VolumesFrom, covered map[string]bool) ([]runtime.Mount, error) {
	var mounts []runtime.Mount
	for _, ref := range refs {
		if ref.Mode != "" && ref.Mode != "ro" && ref.Mode != "rw" {
			return nil, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("volumes_from %s: the mode must be ro or rw, not %q", ref, ref.Mode))
		}
		src, err := s.layout.Find(ref.Container)
		if err != nil {
			return nil, fmt.Errorf("volumes_from %s: %w", ref.Container, err)
		}
		for _, m := range src.Spec.Mounts {
			if (m.Type != runtime.MountVolume && m.Type != runtime.MountBind) || covered[m.Target] {
				continue
			}
			switch ref.Mode {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			}
			covered[m.Target] = true
			mounts = append(mounts, m)
		}
	}
	return mounts, nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
