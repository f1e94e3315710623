package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-units"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/buildcontext"
)

// The Engine's BuildKit is driven as the Docker CLI drives it (DOCKER_BUILDKIT=1 docker build):
// a BuildKit session (github.com/moby/buildkit/session) over the Engine's /session endpoint
// serves the context and the Dockerfile (filesync), the build secrets (secretsprovider) and the
// SSH agent (sshprovider); the build request names the session, and the answer streams
// BuildKit's status (moby.buildkit.trace) and the image ID (moby.image.id).

// minBuildKitAPI is the first Engine API version with BuildKit builds (Docker 18.09).
const minBuildKitAPI = "1.39"

// useBuildKit reports whether builds go through the Engine's BuildKit: the engine is a Linux
// one recent enough, and COMP_DOCKER_BUILDER does not say "classic".
func useBuildKit(apiVersion, osType string) bool {
	if os.Getenv("COMP_DOCKER_BUILDER") == "classic" {
		return false
	}
	return apiVersion != "" && versions.GreaterThanOrEqualTo(apiVersion, minBuildKitAPI) && (osType == "" || osType == "linux")
}

// newerFrontendAPI is the Engine API version (Docker 23.0) from which the Engine's built-in
// Dockerfile frontend is BuildKit v0.10's or later (heredocs, COPY --link, RUN --network, named
// contexts). Before it, these are refused up front.
const newerFrontendAPI = "1.42"

// checkBuildKitKeys checks the build: keys the Engine's build API has no option for.
func (r *Runtime) checkBuildKitKeys(spec runtime.BuildSpec) error {
	// embedded says that comp's own builder has what the key asks for.
	refuse := func(key, why string, embedded bool) error {
		todo := "remove it"
		if embedded {
			todo = "build with --runtime embedded, or remove it"
		}
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.%s: %s; %s", key, why, todo))
	}
	switch {
	case len(spec.Contexts) > 0:
		return refuse("additional_contexts", "the Engine's build API takes no named contexts", true)
	case len(spec.CacheTo) > 0:
		return refuse("cache_to", "the Engine's build API cannot export the build cache", false)
	case len(spec.NoCacheFilter) > 0:
		return refuse("no_cache_filter", "the Engine's build API has no per-stage cache filter", true)
	case len(spec.Platforms) > 1:
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.platforms %v: the Engine builds one platform at a time; "+
			"keep one, or build the others with docker buildx", spec.Platforms))
	}
	for _, c := range spec.CacheFrom {
		if strings.Contains(c, "type=") {
			return refuse("cache_from", fmt.Sprintf("%q: the Engine's build API takes image names only", c), false)
		}
	}
	for _, e := range spec.Entitlements {
		if e != "network.host" {
			return refuse("entitlements", fmt.Sprintf("%q is not granted through the Engine's build API", e), false)
		}
	}
	for key, v := range map[string]string{"provenance": spec.Provenance, "sbom": spec.SBOM} {
		switch strings.ToLower(v) {
		case "", "false", "0":
		default:
			return refuse(key, "the Engine's build API makes no attestations", false)
		}
	}
	switch spec.Isolation {
	case "", "default":
	default:
		return runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf("build.isolation %q: only the default isolation exists on Linux", spec.Isolation))
	}
	if len(spec.SSH) > 0 {
		if _, err := sshProvider(spec.SSH); err != nil {
			return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.ssh: %w (start an ssh-agent and set SSH_AUTH_SOCK, or name a key file: ID=PATH)", err))
		}
	}
	return nil
}

// oldFrontendFlags are the flags BuildKit's Dockerfile frontend of Docker Engine 20.10 (its
// built-in one, Dockerfile 1.2) does not know, by instruction.
var oldFrontendFlags = map[string][]string{
	"run":  {"network", "security"},
	"copy": {"link", "exclude", "parents"},
	"add":  {"link", "exclude", "checksum", "keep-git-dir", "unpack"},
}

// oldMountKeys are RUN --mount keys that frontend does not know.
var oldMountKeys = []string{"env", "size"}

// checkBuildKitDockerfile finds, for an engine whose built-in Dockerfile frontend predates
// BuildKit v0.10, the first instruction that uses what that frontend lacks. Newer engines
// are left to say so themselves (their error is made to name the line).
func (r *Runtime) checkBuildKitDockerfile(df *buildcontext.Dockerfile) error {
	if r.apiVersion == "" || versions.GreaterThanOrEqualTo(r.apiVersion, newerFrontendAPI) {
		return nil
	}
	for _, node := range df.Parsed.AST.Children {
		name := strings.ToUpper(node.Value)
		if len(node.Heredocs) > 0 {
			return r.frontendRefusal(df, node, name+" with a heredoc (<<EOF)")
		}
		for _, f := range node.Flags {
			flag, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			for _, k := range oldFrontendFlags[strings.ToLower(node.Value)] {
				if strings.EqualFold(k, flag) {
					return r.frontendRefusal(df, node, name+" --"+flag)
				}
			}
			if strings.EqualFold(flag, "mount") {
				for field := range strings.SplitSeq(value, ",") {
					key, _, _ := strings.Cut(field, "=")
					for _, k := range oldMountKeys {
						if strings.EqualFold(strings.TrimSpace(key), k) {
							return r.frontendRefusal(df, node, name+" --mount with "+k+"=")
						}
					}
				}
			}
		}
	}
	return nil
}

func (r *Runtime) frontendRefusal(df *buildcontext.Dockerfile, node *parser.Node, feature string) error {
	return runtime.Classify(runtime.ErrNotImplemented, df.At(node.Location(), fmt.Errorf(
		"%s needs a newer Dockerfile frontend than the one built into this Docker Engine (API %s): "+
			"build with --runtime embedded, or upgrade the Engine", feature, r.apiVersion)))
}

// buildWithBuildKit builds spec with the Engine's BuildKit and returns the image ID.
func (r *Runtime) buildWithBuildKit(ctx context.Context, spec runtime.BuildSpec, progress func(runtime.BuildProgress)) (string, error) {
	bc, err := newBuildContext(spec)
	if err != nil {
		return "", err
	}
	contextFS, err := bc.filteredFS()
	if err != nil {
		return "", err
	}
	// The Dockerfile is served from a folder of its own, its syntax directive neutralised: the
	// Engine would pull the frontend it names from a registry.
	dfDir, err := os.MkdirTemp("", "comp-dockerfile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dfDir)
	text, syntax := withoutSyntax(bc.source.Text)
	if syntax != "" && progress != nil {
		progress(runtime.BuildProgress{Text: fmt.Sprintf("%s: syntax=%s ignored: the Engine's built-in Dockerfile frontend builds it", bc.source.Name, syntax)})
	}
	if err := os.WriteFile(filepath.Join(dfDir, "Dockerfile"), text, 0o644); err != nil {
		return "", err
	}
	dockerfileFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return "", err
	}

	sess, err := session.NewSession(ctx, "comp")
	if err != nil {
		return "", fmt.Errorf("start a BuildKit session: %w", err)
	}
	sess.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{"context": contextFS, "dockerfile": dockerfileFS}))
	sess.Allow(secretsprovider.NewSecretProvider(secretStore(spec.Secrets)))
	if len(spec.SSH) > 0 {
		ssh, err := sshProvider(spec.SSH)
		if err != nil {
			return "", runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("build.ssh: %w", err))
		}
		sess.Allow(ssh)
	}
	sessCtx, stopSession := context.WithCancel(ctx)
	sessDone := make(chan error, 1)
	go func() {
		sessDone <- sess.Run(sessCtx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return r.cli.DialHijack(ctx, "/session", proto, meta)
		})
	}()
	defer func() {
		_ = sess.Close()
		stopSession()
		<-sessDone
	}()

	var ulimits []*units.Ulimit
	for _, u := range spec.Ulimits {
		ulimits = append(ulimits, &units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	platform := ""
	if len(spec.Platforms) == 1 {
		platform = spec.Platforms[0]
	}
	resp, err := r.cli.ImageBuild(ctx, nil, build.ImageBuildOptions{
		Version:       build.BuilderBuildKit,
		SessionID:     sess.ID(),
		RemoteContext: "client-session",
		Dockerfile:    "Dockerfile",
		BuildArgs:     buildArgs(spec.Args),
		Target:        spec.Target,
		Labels:        spec.Labels,
		Tags:          spec.Tags,
		NoCache:       spec.NoCache,
		PullParent:    spec.Pull,
		ExtraHosts:    spec.ExtraHosts,
		NetworkMode:   spec.Network,
		ShmSize:       spec.ShmSize,
		Ulimits:       ulimits,
		Platform:      platform,
		CacheFrom:     spec.CacheFrom,
	})
	if err != nil {
		return "", classifyBuild(err)
	}
	defer resp.Body.Close()
	id, err := decodeBuildKit(resp.Body, bc.source, progress)
	if err != nil {
		return "", err
	}
	return r.builtImageID(ctx, id, spec)
}

// filteredFS is the context folder as the build may see it: without what the .dockerignore
// rules chosen (BuildKit's choice: <Dockerfile>.dockerignore, else .dockerignore) exclude.
// The Engine's frontend also applies the folder's .dockerignore when it sees one; with rules
// of the Dockerfile's own file, the folder's is hidden so that only those apply.
func (bc *buildContext) filteredFS() (fsutil.FS, error) {
	fs, err := fsutil.NewFS(bc.dir)
	if err != nil {
		return nil, err
	}
	var excludes []string
	if bc.ignore != nil && len(bc.ignore.Text) > 0 {
		if excludes, err = ignorefile.ReadAll(bytes.NewReader(bc.ignore.Text)); err != nil {
			return nil, err
		}
	}
	if bc.ignore != nil && bc.ignore.PerDockerfile {
		excludes = append(excludes, ".dockerignore")
	}
	// Files are sent owned by root, as the Docker CLI sends them (and the classic path's tar):
	// COPY without --chown keeps the owner the context gives.
	rootOwned := func(_ string, st *fstypes.Stat) fsutil.MapResult {
		st.Uid, st.Gid = 0, 0
		return fsutil.MapResultKeep
	}
	return fsutil.NewFilterFS(fs, &fsutil.FilterOpt{ExcludePatterns: excludes, Map: rootOwned})
}

// withoutSyntax turns a "# syntax=" directive of text into a plain comment (same line count)
// and returns the frontend it named.
func withoutSyntax(text []byte) ([]byte, string) {
	ref, _, loc, ok := parser.DetectSyntax(text)
	if !ok || len(loc) == 0 {
		return text, ""
	}
	lines := bytes.Split(text, []byte("\n"))
	i := loc[0].Start.Line - 1
	if i < 0 || i >= len(lines) || !bytes.HasPrefix(bytes.TrimSpace(lines[i]), []byte("#")) {
		return text, ""
	}
	lines[i] = []byte("# (a syntax directive, ignored by comp)")
	return bytes.Join(lines, []byte("\n")), ref
}

// secretStore serves the build's secrets by ID: a file's content read when asked, or the
// value.
type secretStore []runtime.BuildSecret

func (s secretStore) GetSecret(ctx context.Context, id string) ([]byte, error) {
	for _, sec := range s {
		if sec.ID != id {
			continue
		}
		if sec.File != "" {
			return os.ReadFile(sec.File)
		}
		return sec.Value, nil
	}
	return nil, secrets.ErrNotFound
}

// sshProvider forwards build.ssh: "ID" is the agent at SSH_AUTH_SOCK, "ID=PATH[,PATH]" a
// socket or key files.
func sshProvider(entries []string) (session.Attachable, error) {
	var confs []sshprovider.AgentConfig
	for _, e := range entries {
		id, paths, _ := strings.Cut(e, "=")
		conf := sshprovider.AgentConfig{ID: id}
		if paths != "" {
			conf.Paths = strings.Split(paths, ",")
		}
		confs = append(confs, conf)
	}
	return sshprovider.NewSSHAgentProvider(confs)
}

// vertexPrefix is BuildKit's "[stage-0 2/3] " before an instruction in a vertex's name.
var vertexPrefix = regexp.MustCompile(`^\[[^\]]*\] `)

// parseErrorLine is how BuildKit's frontend names the line of an error it finds in the
// Dockerfile.
var parseErrorLine = regexp.MustCompile(`dockerfile parse error (?:on )?line (\d+): (.*)$`)

// buildKitStream follows BuildKit's status through a build.
type buildKitStream struct {
	source   *buildcontext.Dockerfile
	progress func(runtime.BuildProgress)
	names    map[string]string // vertex digest -> name
	reported map[string]bool   // vertices whose start was reported
	failed   string            // the name of the vertex that failed
	logs     map[string][]string
	id       string
}

// decodeBuildKit reads a BuildKit build's JSON message stream to its end, reporting each step
// and line of output to progress (which may be nil), and returns the image ID, or the build's
// error naming the Dockerfile's line.
func decodeBuildKit(rd io.Reader, source *buildcontext.Dockerfile, progress func(runtime.BuildProgress)) (string, error) {
	s := &buildKitStream{source: source, progress: progress, names: map[string]string{}, reported: map[string]bool{}, logs: map[string][]string{}}
	dec := json.NewDecoder(rd)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return s.id, nil
			}
			return "", classify(err)
		}
		switch {
		case m.Error != nil && m.Error.Message != "":
			return "", s.fail(m.Error.Message)
		case m.ErrorMessage != "":
			return "", s.fail(m.ErrorMessage)
		case m.ID == "moby.buildkit.trace" && m.Aux != nil:
			var raw []byte
			if json.Unmarshal(*m.Aux, &raw) != nil {
				continue
			}
			var st controlapi.StatusResponse
			if st.UnmarshalVT(raw) == nil {
				s.status(&st)
			}
		case m.ID == "moby.image.id" && m.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil {
				s.id = aux.ID
			}
		}
	}
}

func (s *buildKitStream) report(step, text string) {
	if s.progress != nil {
		s.progress(runtime.BuildProgress{Step: step, Text: text})
	}
}

// status reports the steps that started, those found in the cache, and output lines.
func (s *buildKitStream) status(st *controlapi.StatusResponse) {
	for _, v := range st.Vertexes {
		s.names[v.Digest] = v.Name
		if v.Error != "" && s.failed == "" {
			s.failed = v.Name
		}
		if strings.HasPrefix(v.Name, "[internal]") {
			continue
		}
		if v.Started != nil && !s.reported[v.Digest] {
			s.reported[v.Digest] = true
			s.report(v.Name, "")
		}
		if v.Cached {
			s.report(v.Name, "CACHED")
		}
	}
	for _, l := range st.Logs {
		name := s.names[l.Vertex]
		for line := range strings.SplitSeq(strings.TrimRight(string(l.Msg), "\n"), "\n") {
			s.report(name, strings.TrimRight(line, "\r"))
			tail := append(s.logs[name], line)
			if len(tail) > tailLines {
				tail = tail[len(tail)-tailLines:]
			}
			s.logs[name] = tail
		}
	}
}

// tailLines is how many lines of a failed step's output its error keeps.
const tailLines = 20

// fail makes the engine's error an error naming the Dockerfile's line: the one a parse error
// names, else the failed step's instruction.
func (s *buildKitStream) fail(msg string) error {
	if m := parseErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		err := fmt.Errorf("%s: the Engine's Dockerfile frontend refuses it: build with --runtime embedded, or upgrade the Engine", m[2])
		return runtime.Classify(runtime.ErrNotImplemented, &buildcontext.LineError{File: s.source.Name, Line: line, Err: err})
	}
	if s.failed == "" {
		return classifyBuild(errors.New(msg))
	}
	text := vertexPrefix.ReplaceAllString(s.failed, "")
	if out := strings.Join(s.logs[s.failed], "\n"); out != "" {
		msg += "\n" + out
	}
	var loc []parser.Range
	if node := s.source.Instruction(0, text); node != nil {
		loc = node.Location()
	}
	return classifyBuild(s.source.At(loc, errors.New(text+": "+msg)))
}
