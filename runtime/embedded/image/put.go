package image

import (
	"context"
	"crypto/sha256"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/comp-dev/comp/runtime"
)

// Put stores img, an image made in this process (by a build, say), and points tags ("app",
// "app:1", "registry:5000/app:1") at it, moving them from any image they named. Only the
// layers the store lacks are read, uncompressed, and verified against the config's diffIDs;
// the others are found by diffID and never opened. The image gets no manifest or repo digest:
// it was never pushed. A tag that is not a tag reference is ErrInvalidArgument.
func (s *Store) Put(ctx context.Context, img v1.Image, tags []string) (Image, error) {
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("put image: config: %w", err)
	}
	id := fmt.Sprintf("sha256:%x", sha256.Sum256(rawConfig))
	cf, err := verifyConfig(id, rawConfig)
	if err != nil {
		return Image{}, fmt.Errorf("put image: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return Image{}, fmt.Errorf("put image %s: layers: %w", id, err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return Image{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("put image %s: config lists %d layers, the image has %d", id, len(cf.RootFS.DiffIDs), len(layers)))
	}
	in := incoming{id: id, rawConfig: rawConfig, config: cf}
	for i, l := range layers {
		diffID := cf.RootFS.DiffIDs[i].String()
		in.layers = append(in.layers, layerSource{id: shortID(diffID), diffID: diffID, open: l.Uncompressed})
	}
	for _, t := range tags {
		tag, err := loadName(t)
		if err != nil {
			return Image{}, fmt.Errorf("put image %s: %w", id, err)
		}
		in.tags = append(in.tags, tag)
	}

	unlock, err := s.staging()
	if err != nil {
		return Image{}, fmt.Errorf("put image %s: %w", id, err)
	}
	defer unlock()
	out, err := s.add(ctx, in, nil)
	if err != nil {
		return Image{}, fmt.Errorf("put image %s: %w", id, err)
	}
	return out, nil
}
