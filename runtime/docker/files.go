package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/comp-dev/comp/runtime"
)

// fileMounts are the bind mounts of the secrets and configs that are host files: read-only,
// as Docker Compose mounts them.
func fileMounts(files []runtime.ContainerFile) []mount.Mount {
	var mounts []mount.Mount
	for _, f := range files {
		if f.Source != "" {
			mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: f.Source, Target: f.Target, ReadOnly: true})
		}
	}
	return mounts
}

// copyFiles writes the secrets and configs that have content into created container id, as
// Docker Compose does: one tar copied in before the container starts. The engine takes each
// entry's owner and mode from its header (CopyUIDGID would chown to the container's user
// instead, overriding the uid and gid the service asked for).
func (r *Runtime) copyFiles(ctx context.Context, id string, files []runtime.ContainerFile) error {
	archive, n, err := filesTar(files)
	if err != nil || n == 0 {
		return err
	}
	if err := r.cli.CopyToContainer(ctx, id, "/", archive, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("write secrets and configs: %w", classify(err))
	}
	return nil
}

// filesTar is the tar of the files that have content, and how many there are.
func filesTar(files []runtime.ContainerFile) (*bytes.Buffer, int, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	n := 0
	now := time.Now()
	for _, f := range files {
		if f.Source != "" {
			continue
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(f.Target, "/"),
			Size:     int64(len(f.Content)),
			Mode:     int64(f.Mode),
			Uid:      f.UID,
			Gid:      f.GID,
			ModTime:  now,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f, err)
		}
		n++
	}
	return &buf, n, tw.Close()
}

// checkFiles refuses what the engine cannot do with spec's secrets and configs: content cannot
// be copied into a read-only root filesystem (Docker Compose refuses it too).
func checkFiles(spec runtime.ContainerSpec) error {
	if !spec.ReadOnly {
		return nil
	}
	for _, f := range spec.Files {
		if f.Source == "" {
			return runtime.Classify(runtime.ErrNotImplemented, errors.New(
				f.Kind+" "+f.Key+" is copied into the container by the docker runtime (its source is environment: or content:, or it sets uid, gid or mode), "+
					"and read_only: true forbids that (Docker Compose refuses it too): give it a file: source without uid, gid and mode, drop read_only, or use --runtime embedded"))
		}
	}
	return nil
}
