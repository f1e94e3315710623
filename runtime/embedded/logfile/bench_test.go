package logfile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

// benchLog writes a log of n lines like a busy service's and returns its path.
func benchLog(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ctr.log")
	w, err := Open(path, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "2025-03-01 12:00:00 INFO request %d served in 3ms path=/api/items/%d\n", i, i)
	}
	if err := w.Copy(runtime.Stdout, strings.NewReader(in.String())); err != nil {
		b.Fatal(err)
	}
	return path
}

func benchRead(b *testing.B, opts runtime.LogOptions, want int) {
	path := benchLog(b, 50000)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := Read(context.Background(), path, opts, nil, func(runtime.LogLine) { n++ }); err != nil {
			b.Fatal(err)
		}
		if n != want {
			b.Fatalf("read %d lines, want %d", n, want)
		}
	}
}

func BenchmarkRead50000Lines(b *testing.B) { benchRead(b, runtime.LogOptions{Tail: -1}, 50000) }

func BenchmarkReadTail100Of50000Lines(b *testing.B) { benchRead(b, runtime.LogOptions{Tail: 100}, 100) }

func BenchmarkReadTailAllOf50000Lines(b *testing.B) {
	benchRead(b, runtime.LogOptions{Tail: 50000}, 50000)
}

func BenchmarkCopy(b *testing.B) {
	var in strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&in, "2025-03-01 12:00:00 INFO request %d served in 3ms path=/api/items/%d\n", i, i)
	}
	data := in.String()
	w, err := Open(filepath.Join(b.TempDir(), "ctr.log"), 10<<20, 3)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if err := w.Copy(runtime.Stdout, strings.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
