package main

import (
	"fmt"
	"strings"
)

// image is the image of every service: busybox from the run's loopback registry, named through
// interpolation so that comp and Docker Compose read the same file.
const image = "${REGISTRY}/busybox:latest"

// Operation names, as the table prints them.
const (
	opUp       = "up -d"
	opNoopUp   = "up -d (no-op)"
	opDown     = "down -v -t 0"
	opAttached = "up (attached)"
	opLogs     = "logs"
)

// operation is one timed command of a round: the CLI arguments after the global flags.
type operation struct {
	name string
	args []string
}

// The operations of the stacks. down is the same for every runtime: -v removes the named
// volumes, -t 0 kills at once (every service's PID 1 is sleep or awk, which ignore SIGTERM).
var (
	detachedOps = []operation{
		{name: opUp, args: []string{"up", "-d"}},
		{name: opNoopUp, args: []string{"up", "-d"}},
		{name: opDown, args: []string{"down", "-v", "-t", "0"}},
	}
	attachedOps = []operation{
		{name: opAttached, args: []string{"up"}},
		{name: opLogs, args: []string{"logs"}},
		{name: opDown, args: []string{"down", "-v", "-t", "0"}},
	}
)

// stack is a compose file and the operations a round runs on it, in order.
type stack struct {
	name string
	// what is a one-line description for the README and the JSON.
	what    string
	compose string
	ops     []operation
	// supervisorAfter names the operation after which the embedded supervisor's peak memory is
	// sampled (empty: not sampled).
	supervisorAfter string
}

// stacks are the benchmark's stacks, in the order they run.
var stacks = []stack{
	{
		name:            "wide20",
		what:            "20 independent services running sleep 3600",
		compose:         wide(20),
		ops:             detachedOps,
		supervisorAfter: opNoopUp,
	},
	{
		name:    "chain10",
		what:    "a depends_on chain 10 deep, a named volume each",
		compose: chain(10),
		ops:     detachedOps,
	},
	{
		name:    "healthy5",
		what:    "a chain of 5 services, each waiting for the previous one to be healthy (1 s interval)",
		compose: healthyChain(5),
		ops:     detachedOps,
	},
	{
		name:    "logs4x50k",
		what:    "4 services printing 50 000 lines each: attached up to the end, then logs to /dev/null",
		compose: printers(4, 50000),
		ops:     attachedOps,
	},
}

// findStack returns the stack called name.
func findStack(name string) (stack, bool) {
	for _, s := range stacks {
		if s.name == name {
			return s, true
		}
	}
	return stack{}, false
}

func stackNames() []string {
	var names []string
	for _, s := range stacks {
		names = append(names, s.name)
	}
	return names
}

// service writes the lines every service shares: image, command and no network, so that the
// numbers are those of the containers' lifecycle and not of each contender's bridge and veth
// set-up (README: "What it does").
func service(b *strings.Builder, name, command string) {
	fmt.Fprintf(b, "  %s:\n    image: %s\n    command: %s\n    network_mode: none\n", name, image, command)
}

const sleep = `["sleep", "3600"]`

func wide(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		service(&b, fmt.Sprintf("s%02d", i), sleep)
	}
	return b.String()
}

func chain(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		service(&b, fmt.Sprintf("c%02d", i), sleep)
		fmt.Fprintf(&b, "    volumes:\n      - v%02d:/data\n", i)
		if i > 1 {
			fmt.Fprintf(&b, "    depends_on:\n      - c%02d\n", i-1)
		}
	}
	b.WriteString("volumes:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  v%02d: {}\n", i)
	}
	return b.String()
}

func healthyChain(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		service(&b, fmt.Sprintf("h%d", i), sleep)
		b.WriteString("    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n      timeout: 1s\n      retries: 3\n")
		if i > 1 {
			fmt.Fprintf(&b, "    depends_on:\n      h%d:\n        condition: service_healthy\n", i-1)
		}
	}
	return b.String()
}

func printers(n, lines int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		service(&b, fmt.Sprintf("p%d", i),
			fmt.Sprintf(`["awk", "BEGIN { for (i = 1; i <= %d; i++) print \"a line of logs4x50k, number \" i }"]`, lines))
	}
	return b.String()
}
