package project

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/docker/cli/pkg/kvfile"
)

// The `raw` env_file format is registered by the Docker Compose CLI, not by compose-go: an
// env_file with `format: raw` is read as `docker run --env-file` reads one, every value taken
// as it is (no quotes, no interpolation). It is parsed with the docker CLI's own parser, as
// Compose does, so that comp reads such a file exactly as Compose.
func init() {
	dotenv.RegisterFormat("raw", func(r io.Reader, filename string, vars map[string]string, lookup func(string) (string, bool)) error {
		lines, err := kvfile.ParseFromReader(r, lookup)
		if err != nil {
			return fmt.Errorf("read env_file %s: %w", filename, err)
		}
		for _, line := range lines {
			k, v, _ := strings.Cut(line, "=")
			vars[k] = v
		}
		return nil
	})
}

// envFiles are the env files a load interpolates with: the --env-file values, else those of
// COMPOSE_ENV_FILES (comma-separated, as Compose reads it), else none (compose-go then takes
// the project folder's .env).
func envFiles(flags []string) []string {
	if len(flags) > 0 {
		return flags
	}
	if v := os.Getenv("COMPOSE_ENV_FILES"); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}
