package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

func TestVolumeLifecycle(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	labels := map[string]string{runtime.LabelProject: "demo", runtime.LabelVolume: "data"}
	v, err := s.Create(runtime.VolumeSpec{Name: "demo_data", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(runtime.VolumeSpec{Name: "demo_data"}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("second create: %v, want a conflict", err)
	}
	if b, err := os.ReadFile(filepath.Join(s.Path("demo_data"), "keep")); err != nil || string(b) != "x" {
		t.Errorf("a second create touched the data: %q %v", b, err)
	}
	for _, tc := range []struct {
		opts runtime.ListOptions
		want int
	}{
		{runtime.ListOptions{Project: "demo"}, 1},
		{runtime.ListOptions{Project: "other"}, 0},
		{runtime.ListOptions{}, 1},
		{runtime.ListOptions{Labels: map[string]string{runtime.LabelVolume: "data"}}, 1},
		{runtime.ListOptions{Labels: map[string]string{runtime.LabelVolume: "logs"}}, 0},
	} {
		if vs, err := s.List(tc.opts); err != nil || len(vs) != tc.want {
			t.Errorf("List(%+v) = %d volumes, %v; want %d", tc.opts, len(vs), err, tc.want)
		}
	}
	if err := s.Remove("demo_data", false, func(string) bool { return true }); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("removing a volume in use: %v, want a conflict", err)
	}
	if err := s.Remove("demo_data", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inspect("demo_data"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect after remove: %v", err)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Errorf("remove left %v", entries)
	}
}

func TestNamesThatWouldEscapeTheStateFolderAreRefused(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, name := range []string{"../evil", "/etc", "a/b", "..", ".hidden", "", "a..b"} {
		if _, err := s.Create(runtime.VolumeSpec{Name: name}); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("create %q: %v, want invalid argument", name, err)
		}
		if err := s.Remove(name, true, nil); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("remove %q: %v, want invalid argument", name, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(s.Dir)); len(entries) != 1 {
		t.Errorf("something was created beside the store: %v", entries)
	}
}
