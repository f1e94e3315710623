package project

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// keysDoc renders Keys as the Markdown of KEYS.md: one row per key, a column per runtime.
func keysDoc() string {
	var b strings.Builder
	b.WriteString("# Compose keys, runtime by runtime\n\n")
	b.WriteString("Generated from `project.Keys` (`project/keys.go`) by\n")
	b.WriteString("`COMP_UPDATE_KEYS=1 go test ./project -run TestKeysDocIsCurrent`; do not edit by hand.\n")
	b.WriteString("`up` and `run` refuse a refused key before anything is made, with the reason shown here.\n")
	b.WriteString("A key under a refused one is refused with it. \"yes\" means the runtime does what Docker\n")
	b.WriteString("Compose does with the key on one machine.\n\n")
	b.WriteString("| key | embedded | docker |\n|---|---|---|\n")
	keys := make([]string, 0, len(Keys))
	for k := range Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cell := func(s Support, runtime string) string {
		for _, r := range s {
			if r.Runtime != AllRuntimes && r.Runtime != runtime {
				continue
			}
			some := ""
			if r.Unless != nil {
				some = " (some values)"
			}
			return "refused" + some + ": " + strings.ReplaceAll(r.Reason, "|", "\\|")
		}
		return "yes"
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k, cell(Keys[k], RuntimeEmbedded), cell(Keys[k], RuntimeDocker))
	}
	return b.String()
}

func TestKeysDocIsCurrent(t *testing.T) {
	want := keysDoc()
	if os.Getenv("COMP_UPDATE_KEYS") != "" {
		if err := os.WriteFile("KEYS.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("KEYS.md")
	if err != nil || string(got) != want {
		t.Fatalf("project/KEYS.md is not what project.Keys says (%v): run COMP_UPDATE_KEYS=1 go test ./project -run TestKeysDocIsCurrent", err)
	}
}
