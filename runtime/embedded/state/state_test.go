package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestRecordsRoundTripAndFind(t *testing.T) {
	l := Layout{Root: t.TempDir(), Run: t.TempDir()}
	rec := &Record{ID: "0123456789abcdef", Name: "demo-web-1", State: Running,
		Spec: runtime.ContainerSpec{Labels: map[string]string{runtime.LabelProject: "demo"}}}
	if err := os.MkdirAll(l.Container(rec.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteRecord(rec); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"0123456789abcdef", "0123", "demo-web-1"} {
		got, err := l.Find(key)
		if err != nil || got.ID != rec.ID || got.Project() != "demo" {
			t.Errorf("Find(%q) = %+v, %v", key, got, err)
		}
	}
	if _, err := l.Find("nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Find(nope) = %v, want not found", err)
	}
	// A folder without a record (a create that crashed) is no container.
	os.MkdirAll(l.Container("deadbeef"), 0o700)
	if rs, err := l.Records(); err != nil || len(rs) != 1 {
		t.Errorf("Records() = %d, %v; want 1", len(rs), err)
	}
}

func TestWriteJSONIsAtomicUnderConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			WriteJSON(path, map[string]int{"n": i, "pad": i * 1000})
		}()
	}
	wg.Wait()
	var v map[string]int
	if err := ReadJSON(path, &v); err != nil || v["pad"] != v["n"]*1000 {
		t.Errorf("read %v, %v: a torn write", v, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"demo", "demo_data", "e2e-x-1", "a.b"} {
		if err := CheckName("volume", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"../x", "/x", "a/b", "..", "", "-x", "a..b"} {
		if err := CheckName("volume", bad); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLockExcludesASecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.lock")
	release, err := Lock(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path, false); err == nil {
		t.Error("a second non-blocking Lock succeeded while the first is held")
	}
	release()
	again, err := Lock(path, false)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

func TestRecordOfAnEarlierCompReadsItsContainerReferences(t *testing.T) {
	legacy := `{"ID": "abc", "Name": "p-web-1", "Spec": {"Name": "p-web-1", "NetworkMode": "container:p-db-1",
		"IPC": "host", "PID": "", "VolumesFrom": ["container:p-db-1:ro", "container:other"]}, "State": "running"}`
	var rec Record
	if err := json.Unmarshal([]byte(legacy), &rec); err != nil {
		t.Fatal(err)
	}
	spec := rec.Spec
	if spec.NetworkMode != runtime.JoinContainer("p-db-1") || spec.IPC != (runtime.Namespace{Mode: "host"}) || spec.PID != (runtime.Namespace{}) {
		t.Errorf("namespaces = %+v %+v %+v", spec.NetworkMode, spec.IPC, spec.PID)
	}
	want := []runtime.VolumesFrom{{Container: "p-db-1", Mode: "ro"}, {Container: "other"}}
	if !slices.Equal(spec.VolumesFrom, want) || rec.State != Running || rec.ID != "abc" {
		t.Errorf("record = %+v", rec)
	}
	// A record of this comp reads back as it was written.
	b, _ := json.Marshal(rec)
	var again Record
	if err := json.Unmarshal(b, &again); err != nil || again.Spec.NetworkMode != spec.NetworkMode || !slices.Equal(again.Spec.VolumesFrom, want) {
		t.Errorf("round trip: %+v, %v", again.Spec, err)
	}
}
