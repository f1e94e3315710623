package main

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"
)

// gcSettings reads the collector's target percentage and memory limit without changing them.
func gcSettings() (percent int64, limit uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), s[1].Value.Uint64()
}

func TestQuietStartupGCRestoresTheDefaultsAfterASecond(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	quietStartupGC()
	if percent, limit := gcSettings(); percent != -1 || limit != 64<<20 {
		t.Fatalf("right after: GOGC %d, limit %d; want off (-1) under a 64 MiB limit", percent, limit)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		percent, limit := gcSettings()
		if percent == 100 && limit == math.MaxInt64 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s later: GOGC %d, limit %d; want Go's defaults back", percent, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQuietStartupGCLeavesAUsersSettingAlone(t *testing.T) {
	t.Setenv("GOGC", "50")
	before, limit := gcSettings()
	quietStartupGC()
	if percent, l := gcSettings(); percent != before || l != limit {
		t.Fatalf("with GOGC set: GOGC %d -> %d, limit %d -> %d; want unchanged", before, percent, limit, l)
	}
}
