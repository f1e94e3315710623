package build

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// defaultPath is the PATH a stage gets when its base sets none (BuildKit's, Docker's).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultShell runs the shell form of RUN, CMD and ENTRYPOINT when no SHELL says otherwise.
var defaultShell = []string{"/bin/sh", "-c"}

// state is a stage as built so far: its image config and layers, and the ARGs in scope.
type state struct {
	config v1.Config
	author string
	layers []layer
	// created is when the newest layer was made (cached layers keep their time), so that a
	// build with nothing new makes the same config, hence the same image ID.
	created time.Time
	// cmdSet: the stage set CMD itself, so ENTRYPOINT keeps it.
	cmdSet bool
	// args are the ARGs in scope with a value: they expand words and are RUN's environment,
	// never the image's.
	args *vars
	// steps are the cacheable steps this build ran or found, to record once the stage is
	// stored.
	steps []stepRecord
	// noCache: build.no_cache_filter names the stage, whose steps all run.
	noCache bool
}

// layer is one layer of a state.
type layer struct {
	diffID string
	// dir is the layer unpacked with overlay whiteouts: the store's folder, or the upper
	// folder of the step of this build that made it.
	dir string
	// tar is the uncompressed layer tar of a layer this build made, "" for one in the store.
	tar string
}

// stepRecord is a cacheable step of a stage: its key and the layer count after it.
type stepRecord struct {
	key     string
	layers  int
	diffID  string // "" when the step changed nothing
	created time.Time
}

// clone copies st deeply enough that changing the copy leaves st alone.
func (st *state) clone() *state {
	out := &state{
		config:  cloneConfig(st.config),
		author:  st.author,
		layers:  slices.Clone(st.layers),
		created: st.created,
		args:    &vars{},
	}
	return out
}

func cloneConfig(c v1.Config) v1.Config {
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Env = slices.Clone(c.Env)
	c.OnBuild = slices.Clone(c.OnBuild)
	c.Shell = slices.Clone(c.Shell)
	c.Labels = maps.Clone(c.Labels)
	c.Volumes = maps.Clone(c.Volumes)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

// diffIDs lists the diffIDs of the state's layers.
func (st *state) diffIDs() []string {
	out := make([]string, len(st.layers))
	for i, l := range st.layers {
		out[i] = l.diffID
	}
	return out
}

// dirs lists the state's layer folders, lowest first.
func (st *state) dirs() []string {
	out := make([]string, len(st.layers))
	for i, l := range st.layers {
		out[i] = l.dir
	}
	return out
}

// digest identifies what the state holds: its layers and config. Two states with one digest
// have the same files and settings.
func (st *state) digest() string {
	b, _ := json.Marshal(struct {
		Config  v1.Config
		Author  string
		DiffIDs []string
	}{st.config, st.author, st.diffIDs()})
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// key is the cache key of a step of kind (the instruction, expanded) with inputs (what else
// the step depends on), started from st.
func (st *state) key(instruction string, inputs ...string) string {
	b, _ := json.Marshal(struct {
		State       string
		Instruction string
		Inputs      []string
	}{st.digest(), instruction, inputs})
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// shell is the command line that runs cmd through the stage's SHELL.
func (st *state) shell(cmd string) []string {
	sh := st.config.Shell
	if len(sh) == 0 {
		sh = defaultShell
	}
	return append(slices.Clone(sh), cmd)
}

// setEnv sets key in the image's environment.
func (st *state) setEnv(key, value string) {
	for i, kv := range st.config.Env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			st.config.Env[i] = key + "=" + value
			return
		}
	}
	st.config.Env = append(st.config.Env, key+"="+value)
}

// env returns the words-expansion environment: the image's ENV over the ARGs in scope (an ENV
// always wins over an ARG of the same name).
func (st *state) env() *vars {
	out := st.args.clone()
	for _, kv := range st.config.Env {
		k, v, _ := strings.Cut(kv, "=")
		out.set(k, v)
	}
	return out
}

// argEnv lists the ARGs in scope that no ENV overrides, as KEY=VALUE.
func (st *state) argEnv() []string {
	var out []string
	for _, k := range st.args.keys {
		if hasEnv(st.config.Env, k) {
			continue
		}
		out = append(out, k+"="+st.args.values[k])
	}
	return out
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}
