// Command comp-core is the embedded runtime's lean binary: a project's supervisor
// (`comp-core __supervise PROJECT`), a container's init re-exec, and the minimal init of
// `init: true`. It links none of the CLI's packages (compose-go, the Docker client, BuildKit's
// parser), so each of those processes starts in about a fifth of comp's package-init time and
// with half its resident memory. It is not installed on its own: `go run ./internal/buildcomp`
// embeds it into comp (package runtime/embedded/core), which installs it under the state folder.
package main

import (
	"fmt"
	"os"

	"github.com/comp-dev/comp/runtime/embedded/supervisor"
)

func main() {
	// A container's init, the minimal init inside a container, or a supervisor: never returns.
	supervisor.Reexec()
	fmt.Fprintln(os.Stderr, "comp-core is part of comp and is started by it; run comp instead")
	os.Exit(2)
}
