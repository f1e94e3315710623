package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/comp-dev/comp/runtime"
)

// Pull pulls ref (a Docker reference: "busybox" means docker.io/library/busybox:latest) for
// linux/GOARCH, unpacks the layers the store lacks, points ref at the image and returns it.
// Credentials come from ~/.docker/config.json and its credential helpers; registries on
// loopback are reached over plain HTTP. progress (may be nil) is called with "Pulling fs
// layer", "Downloading", "Pull complete" or "Already exists" per layer, one call at a time.
//
// An image or repository the registry does not know is ErrNotFound, an unreachable registry
// ErrUnavailable and a malformed reference ErrInvalidArgument. Content that does not match its
// digest is refused and nothing of it kept.
func (s *Store) Pull(ctx context.Context, ref string, progress func(runtime.PullProgress)) (Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	fam := familiar(r)
	unlock, err := s.staging()
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", fam, err)
	}
	defer unlock()

	desc, err := remote.Get(r, remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("comp"))
	if err != nil {
		return Image{}, pullError(ctx, fam, err)
	}
	img, err := platformImage(desc)
	if err != nil {
		return Image{}, pullError(ctx, fam, err)
	}
	in, err := describe(img, true)
	if err != nil {
		return Image{}, pullError(ctx, fam, err)
	}
	in.repoDigests = []string{familiarRepo(r.Context()) + "@" + desc.Digest.String()}
	if _, ok := r.(name.Digest); ok {
		in.digestRefs = []string{fam}
	} else {
		in.tags = []string{fam}
	}
	out, err := s.add(ctx, in, &reporter{ref: fam, fn: progress})
	if err != nil {
		return Image{}, pullError(ctx, fam, err)
	}
	return out, nil
}

// platformImage picks the linux/GOARCH image of an index, or returns the image desc is.
func platformImage(desc *remote.Descriptor) (v1.Image, error) {
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		if d, ok := pickPlatform(im.Manifests); ok {
			return idx.Image(d.Digest)
		}
		return nil, runtime.Classify(runtime.ErrNotFound,
			fmt.Errorf("no matching manifest for linux/%s in the manifest list entries", goruntime.GOARCH))
	case desc.MediaType.IsImage():
		return desc.Image()
	case desc.MediaType.IsSchema1():
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("manifest schema 1 (%s) is not supported", desc.MediaType))
	}
	return nil, runtime.Classify(runtime.ErrInvalidArgument,
		fmt.Errorf("unsupported manifest media type %s", desc.MediaType))
}

// pickPlatform finds the image for linux/GOARCH among an index's manifests.
func pickPlatform(manifests []v1.Descriptor) (v1.Descriptor, bool) {
	for _, d := range manifests {
		if d.Platform != nil && d.MediaType.IsImage() &&
			d.Platform.OS == "linux" && d.Platform.Architecture == goruntime.GOARCH {
			return d, true
		}
	}
	return v1.Descriptor{}, false
}

// describe reads the manifest and config of img (verifying the config's digest) and lists its
// layers. With compressed, layers are read as stored (and verified by digest and diffID);
// without, uncompressed (verified by diffID).
func describe(img v1.Image, compressed bool) (incoming, error) {
	m, err := img.Manifest()
	if err != nil {
		return incoming{}, err
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return incoming{}, err
	}
	mdigest, err := img.Digest()
	if err != nil {
		return incoming{}, err
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return incoming{}, err
	}
	id := m.Config.Digest.String()
	cf, err := verifyConfig(id, rawConfig)
	if err != nil {
		return incoming{}, err
	}
	in := incoming{id: id, rawConfig: rawConfig, config: cf, manifestDigest: mdigest.String(), rawManifest: rawManifest}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return incoming{}, fmt.Errorf("image %s: config lists %d layers, manifest %d", id, len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	for i, d := range m.Layers {
		layer, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return incoming{}, err
		}
		src := layerSource{id: shortID(d.Digest.String()), diffID: cf.RootFS.DiffIDs[i].String()}
		if compressed {
			src.digest, src.size, src.open = d.Digest.String(), d.Size, layer.Compressed
		} else {
			src.open = layer.Uncompressed
		}
		in.layers = append(in.layers, src)
	}
	return in, nil
}

// shortID is the 12 hex digits Docker shows for a layer.
func shortID(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// pullErr is a pull failure with a short message of ours, keeping the registry's error in the
// chain.
type pullErr struct {
	msg string
	err error
}

func (e *pullErr) Error() string { return e.msg }
func (e *pullErr) Unwrap() error { return e.err }

// pullError names the reference in err and classifies it: what the registry does not have
// (or will not show) is ErrNotFound, a registry out of reach ErrUnavailable.
func pullError(ctx context.Context, ref string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		code := transport.ErrorCode("")
		if len(terr.Errors) > 0 {
			code = terr.Errors[0].Code
		}
		switch {
		case code == transport.ManifestUnknownErrorCode || code == transport.NameUnknownErrorCode ||
			(code == "" && terr.StatusCode == 404):
			return runtime.Classify(runtime.ErrNotFound, &pullErr{msg: "pull " + ref + ": manifest unknown", err: err})
		case code == transport.UnauthorizedErrorCode || code == transport.DeniedErrorCode ||
			(code == "" && (terr.StatusCode == 401 || terr.StatusCode == 403)):
			// Docker Hub answers so for repositories that do not exist, and Docker calls it
			// not found too.
			return runtime.Classify(runtime.ErrNotFound, &pullErr{
				msg: "pull " + ref + ": pull access denied, repository does not exist or may require 'docker login'",
				err: err,
			})
		case code == transport.TooManyRequestsErrorCode || code == transport.UnavailableErrorCode ||
			terr.StatusCode == 429 || terr.StatusCode >= 500:
			return runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("pull %s: %w", ref, err))
		}
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return runtime.Classify(runtime.ErrUnavailable, fmt.Errorf("pull %s: %w", ref, err))
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}
