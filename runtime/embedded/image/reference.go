package image

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/comp-dev/comp/runtime"
)

// parseRef parses a Docker reference ("busybox" is docker.io/library/busybox:latest). A
// registry on loopback is marked insecure, so it is reached over plain HTTP.
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid reference format: %w", err))
	}
	if isLoopback(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// isLoopback reports whether a registry host[:port] is on 127.0.0.0/8, ::1 or localhost.
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// familiarRepo is a repository's name as Docker shows it: "busybox", "user/app",
// "127.0.0.1:5000/x".
func familiarRepo(repo name.Repository) string {
	path := repo.RepositoryStr()
	if repo.RegistryStr() == name.DefaultRegistry {
		if rest, ok := strings.CutPrefix(path, "library/"); ok && !strings.Contains(rest, "/") {
			return rest
		}
		return path
	}
	return repo.RegistryStr() + "/" + path
}

// familiar is a reference as Docker shows it: "busybox:latest", "busybox@sha256:…".
func familiar(r name.Reference) string {
	if d, ok := r.(name.Digest); ok {
		return familiarRepo(d.Context()) + "@" + d.DigestStr()
	}
	return familiarRepo(r.Context()) + ":" + r.Identifier()
}
