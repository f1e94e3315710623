package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/comp-dev/comp/runtime"
)

// Load reads a docker-archive (`docker save`) or OCI-layout tarball from r and stores every
// image in it, tagged as the archive says (manifest.json's RepoTags, or the OCI annotations
// io.containerd.image.name or a full org.opencontainers.image.ref.name). Layers are verified
// against the diffIDs of their image's config. A malformed archive is ErrInvalidArgument.
func (s *Store) Load(r io.Reader) ([]Image, error) {
	unlock, err := s.staging()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer unlock()
	dir, err := os.MkdirTemp(s.path("tmp"), "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(dir)

	a, err := extractArchive(r, dir)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var ins []incoming
	switch {
	case a.exists("manifest.json"):
		ins, err = a.dockerArchive()
	case a.exists("index.json"):
		ins, err = a.ociLayout()
	default:
		err = runtime.Classify(runtime.ErrInvalidArgument,
			errors.New("neither a docker-archive (no manifest.json) nor an OCI layout (no index.json)"))
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}

	var ids []string
	for _, in := range ins {
		img, err := s.add(context.Background(), in, nil)
		if err != nil {
			return nil, fmt.Errorf("load image %s: %w", in.id, err)
		}
		if !slices.Contains(ids, img.ID) {
			ids = append(ids, img.ID)
		}
	}
	out := make([]Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.Get(id)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		out = append(out, img)
	}
	return out, nil
}

// archive is an image tarball extracted to dir. Only its folders and regular files are
// written; its links are kept in links (path -> target path, both relative to dir) and
// resolved by open, never on disk.
type archive struct {
	dir   string
	links map[string]string
}

func invalid(format string, args ...any) error {
	return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(format, args...))
}

func extractArchive(r io.Reader, dir string) (*archive, error) {
	a := &archive{dir: dir, links: map[string]string{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("read archive: %w", err)
		}
		rel, err := cleanPath(hdr.Name)
		if err != nil {
			return nil, invalid("archive entry %s: %w", hdr.Name, err)
		}
		full := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(full, 0o700); err != nil {
				return nil, err
			}
		case tar.TypeReg, tar.TypeGNUSparse:
			if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return nil, err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return nil, invalid("read archive entry %s: %w", hdr.Name, err)
			}
			if err := f.Close(); err != nil {
				return nil, err
			}
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(rel), target)
			}
			if a.links[rel], err = cleanPath(target); err != nil {
				return nil, invalid("archive entry %s: link %s: %w", hdr.Name, hdr.Linkname, err)
			}
		case tar.TypeLink:
			if a.links[rel], err = cleanPath(hdr.Linkname); err != nil {
				return nil, invalid("archive entry %s: link %s: %w", hdr.Name, hdr.Linkname, err)
			}
		}
	}
	return a, nil
}

// resolve follows the archive's own links from rel.
func (a *archive) resolve(rel string) (string, error) {
	p, err := cleanPath(rel)
	if err != nil {
		return "", invalid("archive path %s: %w", rel, err)
	}
	for range 40 {
		target, ok := a.links[p]
		if !ok {
			return p, nil
		}
		p = target
	}
	return "", invalid("archive path %s: too many links", rel)
}

func (a *archive) exists(rel string) bool {
	p, err := a.resolve(rel)
	if err != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(a.dir, p))
	return err == nil && fi.Mode().IsRegular()
}

func (a *archive) open(rel string) (io.ReadCloser, error) {
	p, err := a.resolve(rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(a.dir, p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, invalid("archive has no %s", rel)
	}
	return f, err
}

func (a *archive) readFile(rel string) ([]byte, error) {
	f, err := a.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// dockerArchive reads the images that manifest.json lists.
func (a *archive) dockerArchive() ([]incoming, error) {
	raw, err := a.readFile("manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, invalid("manifest.json: %w", err)
	}
	var ins []incoming
	for _, e := range entries {
		rawConfig, err := a.readFile(e.Config)
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("sha256:%x", sha256.Sum256(rawConfig))
		cf, err := verifyConfig(id, rawConfig)
		if err != nil {
			return nil, invalid("%s: %w", e.Config, err)
		}
		if len(cf.RootFS.DiffIDs) != len(e.Layers) {
			return nil, invalid("image %s: config lists %d layers, manifest.json %d", id, len(cf.RootFS.DiffIDs), len(e.Layers))
		}
		in := incoming{id: id, rawConfig: rawConfig, config: cf}
		for i, lp := range e.Layers {
			diffID := cf.RootFS.DiffIDs[i].String()
			in.layers = append(in.layers, layerSource{
				id:     shortID(diffID),
				diffID: diffID,
				open:   func() (io.ReadCloser, error) { return a.open(lp) },
			})
		}
		for _, t := range e.RepoTags {
			tag, err := loadName(t)
			if err != nil {
				return nil, err
			}
			in.tags = append(in.tags, tag)
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// ociLayout reads the images that index.json lists; for a nested index, its linux/GOARCH image.
func (a *archive) ociLayout() ([]incoming, error) {
	idx, err := layout.ImageIndexFromPath(a.dir)
	if err != nil {
		return nil, invalid("OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, invalid("OCI layout: %w", err)
	}
	var ins []incoming
	for _, d := range im.Manifests {
		var img v1.Image
		switch {
		case d.MediaType.IsImage():
			img, err = idx.Image(d.Digest)
		case d.MediaType.IsIndex():
			var child v1.ImageIndex
			var cm *v1.IndexManifest
			if child, err = idx.ImageIndex(d.Digest); err == nil {
				if cm, err = child.IndexManifest(); err == nil {
					pd, ok := pickPlatform(cm.Manifests)
					if !ok {
						return nil, runtime.Classify(runtime.ErrNotFound,
							fmt.Errorf("OCI layout: index %s has no image for linux/%s", d.Digest, goruntime.GOARCH))
					}
					img, err = child.Image(pd.Digest)
				}
			}
		default:
			continue
		}
		if err != nil {
			return nil, invalid("OCI layout: %s: %w", d.Digest, err)
		}
		in, err := describe(img, true)
		if err != nil {
			return nil, invalid("OCI layout: %s: %w", d.Digest, err)
		}
		ref := d.Annotations["io.containerd.image.name"]
		if n := d.Annotations["org.opencontainers.image.ref.name"]; ref == "" && strings.ContainsAny(n, ":/@") {
			ref = n
		}
		if ref != "" {
			r, err := parseRef(ref)
			if err != nil {
				return nil, invalid("OCI layout: image name %q: %w", ref, err)
			}
			if _, ok := r.(name.Digest); ok {
				in.digestRefs = []string{familiar(r)}
			} else {
				in.tags = []string{familiar(r)}
			}
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// loadName normalises a tag of manifest.json.
func loadName(ref string) (string, error) {
	r, err := parseRef(ref)
	if err != nil {
		return "", invalid("tag %q: %w", ref, err)
	}
	if _, ok := r.(name.Tag); !ok {
		return "", invalid("tag %q is not a tag", ref)
	}
	return familiar(r), nil
}
