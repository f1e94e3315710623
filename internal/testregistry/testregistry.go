// Package testregistry runs an in-process OCI registry on 127.0.0.1 for tests. Docker Engine
// treats registries on 127.0.0.0/8 as insecure, so it pulls from this one over plain HTTP with
// no daemon configuration.
package testregistry

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a running registry. Its content lives in memory and is lost on Close.
type Registry struct {
	addr      string
	srv       *http.Server
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// New starts a registry on a free port of 127.0.0.1. Close stops it.
func New() (*Registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for test registry: %w", err)
	}
	quiet := log.New(io.Discard, "", 0)
	r := &Registry{
		addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           registry.New(registry.Logger(quiet)),
			ErrorLog:          quiet,
			ReadHeaderTimeout: 30 * time.Second,
		},
		done: make(chan error, 1),
	}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

// Start starts a registry that is closed when the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close test registry: %v", err)
		}
	})
	return r
}

// Addr is the registry's host and port, "127.0.0.1:PORT": the prefix of its references.
func (r *Registry) Addr() string { return r.addr }

// Ref returns the full reference of repoAndTag ("busybox:latest") in this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.addr + "/" + repoAndTag }

// Push uploads img as ref, given either relative to the registry ("busybox:latest") or in
// full ("127.0.0.1:PORT/busybox:latest"). It returns the pushed image's reference by digest,
// "127.0.0.1:PORT/busybox@sha256:…".
func (r *Registry) Push(ref string, img v1.Image) (string, error) {
	if !strings.HasPrefix(ref, r.addr+"/") {
		ref = r.Ref(ref)
	}
	parsed, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(parsed, img); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return parsed.Context().Digest(d.String()).String(), nil
}

// Close stops the registry and waits for its server to end. Closing twice is harmless.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		err := r.srv.Close()
		if serveErr := <-r.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
		if err != nil {
			r.closeErr = fmt.Errorf("close test registry %s: %w", r.addr, err)
		}
	})
	return r.closeErr
}
