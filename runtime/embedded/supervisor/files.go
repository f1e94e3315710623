package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// writeFiles writes the secrets and configs of rec that have content into the container's
// folder (files/N, owned and with the mode the service asked for; the folder is root's alone)
// and makes each of them a host file like the others: the record keeps their paths, never
// their content. The container sees them bind-mounted read-only, which works in a read_only
// container too.
func (s *Supervisor) writeFiles(rec *state.Record) error {
	if len(rec.Spec.Files) == 0 {
		return nil
	}
	rec.Spec.Files = slices.Clone(rec.Spec.Files)
	dir := filepath.Join(s.layout.Container(rec.ID), "files")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	for i, f := range rec.Spec.Files {
		if f.Source != "" {
			continue
		}
		path := filepath.Join(dir, strconv.Itoa(i))
		if err := writeOwned(path, f); err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
		f.Source, f.Content = path, nil
		rec.Spec.Files[i] = f
	}
	return nil
}

// writeOwned writes f's content at path, owned by f.UID:f.GID with f.Mode (set after the
// write, as the umask would narrow it at creation).
func writeOwned(path string, f runtime.ContainerFile) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = out.Write(f.Content)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chown(path, f.UID, f.GID)
	}
	if err == nil {
		err = os.Chmod(path, os.FileMode(f.Mode&0o777)|modeBits(f.Mode))
	}
	return err
}

// modeBits are the setuid, setgid and sticky bits of a Unix mode as Go's os.FileMode has them.
func modeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// fileMounts are the read-only bind mounts of the container's secrets and configs, every one
// a host file by now (writeFiles).
func fileMounts(files []runtime.ContainerFile) ([]container.Mount, error) {
	var mounts []container.Mount
	for _, f := range files {
		if f.Source == "" {
			return nil, fmt.Errorf("%s: not written at create", f)
		}
		if _, err := os.Stat(f.Source); err != nil {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("%s: its file %s is gone: %w", f, f.Source, err))
		}
		mounts = append(mounts, container.Mount{Source: f.Source, Target: f.Target, ReadOnly: true})
	}
	return mounts, nil
}
