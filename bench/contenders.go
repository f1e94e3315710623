package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The contenders a run may compare, in the order each round runs them.
const (
	embedded = "embedded" // comp --runtime embedded
	docker   = "docker"   // comp --runtime docker
	compose  = "compose"  // Docker Compose: the docker compose plugin, else docker-compose
)

var contenderNames = []string{embedded, docker, compose}

// contender is one way of running a compose project from the command line.
type contender struct {
	name string
	// command is the argv before the global flags -f and -p.
	command []string
	// env is added to the environment of every command.
	env []string
	// version is what the contender's version command said, for the record.
	version string
	// comp says whether this is comp (as opposed to the peer it is compared with).
	comp bool
}

// argv is the command line that runs args on project, defined by file.
func (c contender) argv(file, project string, args []string) []string {
	argv := slices.Clone(c.command)
	argv = append(argv, "-f", file, "-p", project)
	return append(argv, args...)
}

// display is how the contender's command starts, as a user would type it.
func (c contender) display() string {
	if c.comp {
		return "comp --runtime " + c.name
	}
	return strings.Join(c.command, " ")
}

// compContender returns comp on runtime, after checking with `comp version` that the runtime
// answers.
func compContender(ctx context.Context, binary, runtime string, env []string) (contender, error) {
	if runtime == embedded && os.Geteuid() != 0 {
		return contender{}, errors.New("the embedded runtime needs root")
	}
	c := contender{name: runtime, command: []string{binary, "--runtime", runtime}, env: env, comp: true}
	out, err := probe(ctx, env, binary, "--runtime", runtime, "version")
	if err != nil {
		return contender{}, err
	}
	c.version = strings.Join(nonBlankLines(out), "; ")
	return c, nil
}

// composeContender finds Docker Compose: the docker CLI plugin first, else docker-compose.
// With install, it installs Debian's docker-compose package when neither is found.
func composeContender(ctx context.Context, install bool, log func(string, ...any)) (contender, error) {
	find := func() (contender, error) {
		var problems []string
		for _, command := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
			out, err := probe(ctx, nil, append(slices.Clone(command), "version")...)
			if err == nil {
				version, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
				return contender{name: compose, command: command, version: version}, nil
			}
			problems = append(problems, fmt.Sprintf("%s: %v", strings.Join(command, " "), err))
		}
		return contender{}, fmt.Errorf("Docker Compose is not installed (%s)", strings.Join(problems, "; "))
	}
	c, err := find()
	if err == nil || !install {
		return c, err
	}
	// Docker Compose v5, built from the Go module proxy, is what users run today; Debian's
	// docker-compose 1.29 (Python) is the fallback.
	log("Docker Compose not found: building Docker Compose v5 (sh bench/install-compose.sh)")
	cmd := exec.CommandContext(ctx, "sh", "bench/install-compose.sh")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	ierr := cmd.Run()
	if ierr == nil {
		return find()
	}
	log("bench/install-compose.sh: %v; apt-get install -y docker-compose", ierr)
	cmd = exec.CommandContext(ctx, "apt-get", "install", "-y", "docker-compose")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if ierr = cmd.Run(); ierr != nil {
		return contender{}, fmt.Errorf("%w; apt-get install -y docker-compose: %v", err, ierr)
	}
	return find()
}

// probe runs a short command and returns its output, or an error with what it printed.
func probe(ctx context.Context, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if lines := nonBlankLines(string(out)); len(lines) > 0 {
			return "", errors.New(strings.TrimPrefix(lines[0], "Error: "))
		}
		return "", err
	}
	return string(out), nil
}

// nonBlankLines are the lines of out that hold more than spaces, trimmed.
func nonBlankLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
