package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CallTimeout bounds every comp command a Project runs.
const CallTimeout = 2 * time.Minute

// ProjectLabel is the label that marks every object of a Compose project.
const ProjectLabel = "com.docker.compose.project"

// Project is one compose project of one test, run on one runtime: a folder holding
// compose.yaml and a unique project name. Everything it created is removed when the test ends.
type Project struct {
	// Name is the project name passed with -p: e2e-<scenario>-<runtime>-<random>.
	Name string
	// Dir is the project folder, the working directory of every comp command.
	Dir string
	// Runtime is the runtime passed with --runtime.
	Runtime string
	// Env holds extra KEY=VALUE variables for every comp command of the project.
	Env []string

	t testing.TB
}

// NewProject writes compose to a new folder's compose.yaml and returns a project with a
// unique name for scenario on runtime. When the test ends it runs
// `comp down --volumes --remove-orphans -t 1` and, on docker, removes anything still labelled
// with the project, failing the test if a successful down had left something.
func NewProject(t testing.TB, runtime, scenario, compose string) *Project {
	t.Helper()
	Binary(t)
	p := &Project{
		Name:    projectName(scenario, runtime),
		Dir:     t.TempDir(),
		Runtime: runtime,
		t:       t,
	}
	p.Write(compose)
	t.Cleanup(p.cleanup)
	return p
}

// projectName builds e2e-<scenario>-<runtime>-<6 hex>, lowercase, of letters, digits and '-'.
func projectName(scenario, runtime string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	slug := func(s string, max int) string {
		s = strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-")
		if len(s) > max {
			s = strings.TrimRight(s[:max], "-")
		}
		return s
	}
	return fmt.Sprintf("e2e-%s-%s-%s", slug(scenario, 24), slug(runtime, 10), hex.EncodeToString(b))
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// ComposeFile is the path of the project's compose.yaml.
func (p *Project) ComposeFile() string { return filepath.Join(p.Dir, "compose.yaml") }

// Write replaces compose.yaml with yaml.
func (p *Project) Write(yaml string) {
	p.t.Helper()
	if err := os.WriteFile(p.ComposeFile(), []byte(yaml), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// Compose returns the project's compose.yaml as it is now.
func (p *Project) Compose() string {
	p.t.Helper()
	b, err := os.ReadFile(p.ComposeFile())
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

// ContainerName is the name comp gives replica n of service: <project>-<service>-<n>.
func (p *Project) ContainerName(service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", p.Name, service, n)
}

// ObjectName is the name comp gives the project's network or volume key: <project>_<key>.
func (p *Project) ObjectName(key string) string { return p.Name + "_" + key }

// Result is what one comp command did.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int   // -1 when the command did not run or was killed
	Err      error // set when the command could not run or exceeded CallTimeout
}

// String describes the command and its output, for failure messages.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "comp %s: exit %d", strings.Join(r.Args, " "), r.ExitCode)
	if r.Err != nil {
		fmt.Fprintf(&b, " (%v)", r.Err)
	}
	fmt.Fprintf(&b, "\n[stdout]\n%s[stderr]\n%s", withNewline(r.Stdout), withNewline(r.Stderr))
	return b.String()
}

func withNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// Comp runs `comp -p NAME --runtime RUNTIME args…` in the project folder and returns what it did;
// it is logged to the test.
func (p *Project) Comp(args ...string) Result {
	p.t.Helper()
	r := p.run(args...)
	p.t.Log(r.String())
	return r
}

// CompInput is Comp with input as the command's standard input (a pipe, not a terminal).
func (p *Project) CompInput(input string, args ...string) Result {
	p.t.Helper()
	r := p.runWith(strings.NewReader(input), args...)
	p.t.Log(r.String())
	return r
}

// CompQuiet is Comp without the log, for commands polled by Eventually.
func (p *Project) CompQuiet(args ...string) Result {
	return p.run(args...)
}

// MustComp is Comp, failing the test unless the command exits 0.
func (p *Project) MustComp(args ...string) Result {
	p.t.Helper()
	r := p.run(args...)
	if r.ExitCode != 0 {
		p.t.Fatal(r.String())
	}
	p.t.Log(r.String())
	return r
}

func (p *Project) run(args ...string) Result { return p.runWith(nil, args...) }

// runWith runs comp with stdin as its standard input (nil: /dev/null).
func (p *Project) runWith(stdin io.Reader, args ...string) Result {
	full := append([]string{"-p", p.Name, "--runtime", p.Runtime}, args...)
	r := Result{Args: full, ExitCode: -1}
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()

	// Output goes to files, not pipes: a process comp leaves running (an embedded supervisor)
	// that inherits them cannot keep the call from returning.
	stdout, stderr, err := p.outputFiles()
	if err != nil {
		r.Err = err
		return r
	}
	defer closeFiles(stdout, stderr)

	cmd := exec.CommandContext(ctx, binary, full...)
	cmd.Dir = p.Dir
	cmd.Env = p.env()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = cmd.Run()
	r.Stdout, r.Stderr = readAll(stdout), readAll(stderr)
	r.setExit(err, ctx.Err() != nil)
	return r
}

// setExit records how a command ended: its exit code, or why it has none (killed after
// CallTimeout, or err when it could not run).
func (r *Result) setExit(err error, timedOut bool) {
	var exit *exec.ExitError
	switch {
	case timedOut:
		r.Err = fmt.Errorf("killed after %v", CallTimeout)
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
	case err != nil:
		r.Err = err
	default:
		r.ExitCode = 0
	}
}

// outputFiles creates the two files a command writes to; closeFiles removes them.
func (p *Project) outputFiles() (stdout, stderr *os.File, err error) {
	if stdout, err = os.CreateTemp("", "comp-stdout-"); err != nil {
		return nil, nil, err
	}
	if stderr, err = os.CreateTemp("", "comp-stderr-"); err != nil {
		closeFiles(stdout)
		return nil, nil, err
	}
	return stdout, stderr, nil
}

func closeFiles(files ...*os.File) {
	for _, f := range files {
		f.Close()
		os.Remove(f.Name())
	}
}

func readAll(f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return fmt.Sprintf("<read %s: %v>", f.Name(), err)
	}
	return string(b)
}

// env is the test's environment with REGISTRY set and the COMPOSE_* variables of the
// developer's shell removed, so that only the test decides what comp sees.
func (p *Project) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "COMPOSE_") || strings.HasPrefix(kv, RegistryEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, p.Env...)
	return append(env, RegistryEnv+"="+reg.Addr())
}

// Process is a comp command running in the background, such as `logs -f`.
type Process struct {
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
	err  error
}

// Start runs `comp -p NAME --runtime RUNTIME args…` in the background; its stdout and stderr
// are read together with Output. It is killed when the test ends, or by Stop.
func (p *Project) Start(args ...string) *Process {
	p.t.Helper()
	full := append([]string{"-p", p.Name, "--runtime", p.Runtime}, args...)
	out, err := os.Create(filepath.Join(p.t.TempDir(), "output"))
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(binary, full...)
	cmd.Dir = p.Dir
	cmd.Env = p.env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		p.t.Fatalf("start comp %s: %v", strings.Join(full, " "), err)
	}
	proc := &Process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		proc.err = cmd.Wait()
		close(proc.done)
	}()
	p.t.Cleanup(func() {
		proc.Stop()
		p.t.Logf("background comp %s:\n%s", strings.Join(full, " "), withNewline(proc.Output()))
	})
	return proc
}

// Output is everything the process printed so far, stdout and stderr interleaved.
func (pr *Process) Output() string { return readAll(pr.out) }

// Exited reports whether the process has ended, and how.
func (pr *Process) Exited() (bool, error) {
	select {
	case <-pr.done:
		return true, pr.err
	default:
		return false, nil
	}
}

// Stop kills the process and what it started, and waits for it. Stopping twice is harmless.
func (pr *Process) Stop() {
	if exited, _ := pr.Exited(); !exited {
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-pr.done
	pr.out.Close()
}

// Container is one line of `comp ps --format json`.
type Container struct {
	ID         string
	Name       string
	Service    string
	State      string
	Status     string
	Health     string
	ExitCode   int
	Publishers []Publisher
}

// Publisher is a published port of a Container.
type Publisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

// PS runs `comp ps --format json` (with -a when all) and parses its output: one JSON object per
// line (a single JSON array is accepted too). It fails the test on a non-zero exit.
func (p *Project) PS(all bool) []Container {
	p.t.Helper()
	args := []string{"ps", "--format", "json"}
	if all {
		args = append(args, "-a")
	}
	r := p.MustComp(args...)
	cs, err := ParsePS(r.Stdout)
	if err != nil {
		p.t.Fatalf("parse `comp %s` output: %v\n%s", strings.Join(args, " "), err, r.Stdout)
	}
	return cs
}

// ParsePS parses the output of `ps --format json`.
func ParsePS(out string) ([]Container, error) {
	out = strings.TrimSpace(out)
	if out == "" {
		return nil, nil
	}
	var cs []Container
	if strings.HasPrefix(out, "[") {
		err := json.Unmarshal([]byte(out), &cs)
		return cs, err
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var c Container
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			return cs, nil
		}
		if err != nil {
			return cs, err
		}
		cs = append(cs, c)
	}
}

// HasProgress reports whether stderr holds a progress line for object ("Container", "Network",
// "Volume", "Image") name with one of texts ("Started", "Running", …) as its status word, such
// as ` Container proj-web-1  Started`.
func HasProgress(stderr, object, name string, texts ...string) bool {
	quoted := make([]string, len(texts))
	for i, t := range texts {
		quoted[i] = regexp.QuoteMeta(t)
	}
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(object) + `\s+` + regexp.QuoteMeta(name) +
		`\s+(?:` + strings.Join(quoted, "|") + `)(?:\s|$)`)
	return re.MatchString(stderr)
}

// cleanup removes what the test left: `comp down`, then on docker every object still carrying
// the project label. Leftovers after a successful down fail a test that had passed.
func (p *Project) cleanup() {
	r := p.run("down", "--volumes", "--remove-orphans", "-t", "1")
	if r.ExitCode != 0 {
		p.t.Logf("cleanup: %s", r)
	}
	if p.Runtime != "docker" {
		return
	}
	left := removeDockerLeftovers(p.Name)
	if len(left) > 0 && r.ExitCode == 0 && !p.t.Failed() {
		p.t.Errorf("`comp down --volumes --remove-orphans` left objects of project %s: %s",
			p.Name, strings.Join(left, ", "))
	}
}

// removeDockerLeftovers force-removes the containers, networks and volumes labelled with
// project, and names them.
func removeDockerLeftovers(project string) []string {
	filter := "label=" + ProjectLabel + "=" + project
	var left []string
	for _, kind := range []struct {
		what string
		list []string
		rm   []string
	}{
		{"containers", []string{"ps", "-aq", "--filter", filter}, []string{"rm", "-f", "-v"}},
		{"networks", []string{"network", "ls", "-q", "--filter", filter}, []string{"network", "rm"}},
		{"volumes", []string{"volume", "ls", "-q", "--filter", filter}, []string{"volume", "rm", "-f"}},
	} {
		ids, err := DockerLines(kind.list...)
		if err != nil || len(ids) == 0 {
			continue
		}
		left = append(left, fmt.Sprintf("%s %s", kind.what, strings.Join(ids, " ")))
		_, _ = Docker(append(kind.rm, ids...)...)
	}
	return left
}

// Docker runs the docker CLI (for checks only the Docker runtime can make) and returns its
// combined output.
func Docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// DockerLines runs the docker CLI and returns its non-blank output lines.
func DockerLines(args ...string) ([]string, error) {
	out, err := Docker(args...)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}
