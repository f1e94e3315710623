package container

import (
	"io"
	"os"
	"testing"
)

// BenchmarkStartEcho measures a container start, from Start to the first byte of `echo hi`'s
// output, then waits and destroys the container (not measured).
func BenchmarkStartEcho(b *testing.B) {
	requireRoot(b)
	m := newManager(b)
	rootfs := newRootfs(b)
	for i := 0; b.Loop(); i++ {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{
			ID:      testID(b) + "-" + itoa(i),
			Rootfs:  rootfs,
			Process: Process{Args: []string{"echo", "hi"}, Env: []string{"PATH=" + defaultPath}, Stdout: w},
		}
		cfg.Resources.Memory = 64 << 20
		cfg.Resources.PidsLimit = 100
		c, err := m.Start(cfg)
		w.Close()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r.Close()
		_, _ = c.Wait()
		if err := c.Destroy(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
