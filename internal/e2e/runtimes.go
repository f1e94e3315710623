package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultRuntimes are the runtimes tested when COMP_E2E_RUNTIMES is unset.
const DefaultRuntimes = "docker,embedded"

// Features are the optional capabilities a scenario may need, each with why a runtime may lack
// it. Docker has them all; the embedded runtime has those listed in COMP_E2E_EMBEDDED_FEATURES
// (default DefaultEmbeddedFeatures).
var Features = map[string]string{
	"bridge": "embedded bridge networking (issue 4)",
}

// DefaultEmbeddedFeatures are the features the embedded runtime has when
// COMP_E2E_EMBEDDED_FEATURES is unset: bridge networking landed with issue 4.
const DefaultEmbeddedFeatures = "bridge"

// Runtimes returns the runtimes to test: COMP_E2E_RUNTIMES (comma-separated), else
// DefaultRuntimes.
func Runtimes() []string {
	return splitList(envOr("COMP_E2E_RUNTIMES", DefaultRuntimes))
}

// Available reports why runtime cannot be tested on this machine, or nil. The answer is
// computed once per process.
func Available(runtime string) error {
	once, _ := availability.LoadOrStore(runtime, sync.OnceValue(func() error { return probe(runtime) }))
	return once.(func() error)()
}

var availability sync.Map // runtime name -> func() error

func probe(runtime string) error {
	switch runtime {
	case "docker":
		return probeDocker()
	case "embedded":
		return probeEmbedded()
	default:
		return fmt.Errorf("unknown runtime %q (COMP_E2E_RUNTIMES)", runtime)
	}
}

// probeDocker asks the engine with `docker info`, or pings its socket when there is no CLI.
func probeDocker() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err == nil {
		return nil
	}
	if !errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("`docker info`: %w: %s", err, strings.TrimSpace(string(out)))
	}
	sock := "/var/run/docker.sock"
	if host := os.Getenv("DOCKER_HOST"); strings.HasPrefix(host, "unix://") {
		sock = strings.TrimPrefix(host, "unix://")
	}
	client := http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("no docker CLI, and the engine socket %s does not answer: %w", sock, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("engine socket %s: GET /_ping: %s", sock, resp.Status)
	}
	return nil
}

// probeEmbedded needs root and a comp whose `comp --runtime embedded version` exits 0 and does
// not call the runtime "not available".
func probeEmbedded() error {
	if os.Geteuid() != 0 {
		return errors.New("the embedded runtime needs root")
	}
	if buildErr != nil {
		return fmt.Errorf("comp binary: %w", buildErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--runtime", "embedded", "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("`comp --runtime embedded version`: %w: %s", err, strings.TrimSpace(string(out)))
	}
	// `version` may exit 0 and still report the runtime unusable on its Runtime line.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "not available") {
			return fmt.Errorf("`comp --runtime embedded version`: %s", strings.TrimSpace(line))
		}
	}
	return nil
}

// RequireRuntime skips t when runtime is unavailable here, or fails it when CI=true. It fails
// t when comp could not be built.
func RequireRuntime(t testing.TB, runtime string) {
	t.Helper()
	Binary(t)
	if err := Available(runtime); err != nil {
		skipOrFail(t, "runtime %s unavailable: %v", runtime, err)
	}
}

// RequireFeatures skips t when runtime lacks one of the features (keys of Features), with the
// message "needs <why>". Docker has every feature; the embedded runtime has those listed in
// COMP_E2E_EMBEDDED_FEATURES. Such a skip happens in CI too: it marks known, tracked work.
func RequireFeatures(t testing.TB, runtime string, features ...string) {
	t.Helper()
	for _, f := range features {
		why, ok := Features[f]
		if !ok {
			t.Fatalf("scenario needs unknown feature %q; known: %v", f, featureNames())
		}
		if runtime == "embedded" && !slices.Contains(splitList(envOr("COMP_E2E_EMBEDDED_FEATURES", DefaultEmbeddedFeatures)), f) {
			t.Skipf("needs %s", why)
		}
	}
}

func featureNames() []string {
	var names []string
	for f := range Features {
		names = append(names, f)
	}
	slices.Sort(names)
	return names
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
