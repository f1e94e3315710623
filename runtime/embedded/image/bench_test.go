package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkColdPull pulls and unpacks the busybox test image from a loopback registry into an
// empty store.
func BenchmarkColdPull(b *testing.B) {
	requireRoot(b)
	reg := pushed(b, "busybox:latest", busybox(b))
	ref := reg.Ref("busybox:latest")
	root := filepath.Join(b.TempDir(), "images")
	for b.Loop() {
		s, err := Open(root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Pull(context.Background(), ref, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(root); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
