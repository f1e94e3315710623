package state

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// record writes a record called name, with a spec the size of a real one.
func record(t testing.TB, l Layout, id, name string) *Record {
	t.Helper()
	r := &Record{ID: id, Name: name, Created: time.Now(), Spec: runtime.ContainerSpec{
		Name: name, Image: "registry.example/app:latest",
		Labels: map[string]string{runtime.LabelProject: "p", "com.docker.compose.service": name,
			"com.docker.compose.config-hash": fmt.Sprintf("%064d", 0)},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=2"},
	}}
	if err := l.WriteRecord(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNamesFollowCreatesRenamesAndRemovals(t *testing.T) {
	l := LayoutAt(t.TempDir())
	n := NewNames(l)
	owner := func(name string) string {
		t.Helper()
		id, ok, err := n.Owner(name)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return id
	}
	if got := owner("web"); got != "" {
		t.Fatalf("no containers yet, web is owned by %q", got)
	}
	r := record(t, l, "id1", "web")
	record(t, l, "id2", "db")
	if got := owner("web"); got != "id1" {
		t.Fatalf("web owned by %q, want id1", got)
	}
	// A rename rewrites the record (a new file renamed over the old one).
	r.Name = "web-old"
	if err := l.WriteRecord(r); err != nil {
		t.Fatal(err)
	}
	if got := owner("web"); got != "" {
		t.Fatalf("after the rename, web is still owned by %q", got)
	}
	if got := owner("web-old"); got != "id1" {
		t.Fatalf("web-old owned by %q, want id1", got)
	}
	if err := os.RemoveAll(l.Container("id2")); err != nil {
		t.Fatal(err)
	}
	if got := owner("db"); got != "" {
		t.Fatalf("db removed, yet owned by %q", got)
	}
	// A folder without a readable record (a create that crashed) owns nothing.
	if err := os.MkdirAll(l.Container("id3"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.recordPath("id3"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := owner("web-old"); got != "id1" {
		t.Fatalf("web-old owned by %q with a damaged record beside it, want id1", got)
	}
}

// The name check of a create, with N containers on the machine: Layout.Find (every record read
// and decoded) against Names (a stat per record).
func BenchmarkNameCheck(b *testing.B) {
	for _, count := range []int{20, 200} {
		l := LayoutAt(b.TempDir())
		for i := range count {
			record(b, l, fmt.Sprintf("%064d", i), fmt.Sprintf("p-s%d-1", i))
		}
		b.Run(fmt.Sprintf("Find/%d", count), func(b *testing.B) {
			for b.Loop() {
				if _, err := l.Find("p-new-1"); err == nil {
					b.Fatal("found")
				}
			}
		})
		n := NewNames(l)
		b.Run(fmt.Sprintf("Names/%d", count), func(b *testing.B) {
			for b.Loop() {
				if _, ok, _ := n.Owner("p-new-1"); ok {
					b.Fatal("found")
				}
			}
		})
	}
}
