package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMedian(t *testing.T) {
	cases := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one value", []float64{3}, 3},
		{"odd count: the middle one", []float64{5, 1, 3}, 3},
		{"even count: the mean of the two middle ones", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestSummaryLeavesOutFailedAndSkippedSamples(t *testing.T) {
	got := summarize([]sample{
		{Round: 1, Seconds: 2},
		{Round: 2, Seconds: 9, Error: "boom"},
		{Round: 3, Skipped: true, Error: "skipped: up -d failed"},
		{Round: 4, Seconds: 4},
	})
	want := summary{N: 2, Failed: 1, Skipped: 1, Median: 3, Min: 2, Max: 4}
	if got == nil || *got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
	if got := summarize([]sample{{Round: 1, Error: "boom"}}); got != nil {
		t.Errorf("summary of failures only = %+v, want nil", got)
	}
}

// sampleReport is a run of 3 rounds of one operation where compose failed once, and one of
// healthy5 where the embedded runtime failed every time.
func sampleReport(withCompose bool) *report {
	r := &report{
		Rounds: 3,
		Contenders: []contenderInfo{
			{Name: embedded, Command: "comp --runtime embedded", Version: "comp version test"},
			{Name: docker, Command: "comp --runtime docker", Version: "comp version test"},
		},
		Stacks: []stackInfo{
			{Name: "wide20", Operations: []string{opUp, opNoopUp, opDown}},
			{Name: "healthy5", Operations: []string{opUp, opNoopUp, opDown}},
		},
	}
	add := func(stack, op, runtime string, samples ...sample) {
		s := r.series(stack, op, runtime, "bench0000-"+stack+"-"+runtime)
		s.Samples = samples
	}
	// Added out of order: the table sorts by stack, operation, then runtime.
	add("wide20", opUp, docker, sample{Round: 1, Seconds: 2}, sample{Round: 2, Seconds: 3}, sample{Round: 3, Seconds: 4})
	add("wide20", opUp, embedded, sample{Round: 1, Seconds: 1}, sample{Round: 2, Seconds: 1.5}, sample{Round: 3, Seconds: 1})
	if withCompose {
		r.Contenders = append(r.Contenders, contenderInfo{Name: compose, Command: "docker compose", Version: "Docker Compose version test"})
		add("wide20", opUp, compose, sample{Round: 1, Seconds: 4}, sample{Round: 2, Seconds: 8, Error: "boom"}, sample{Round: 3, Seconds: 2})
	} else {
		r.Skipped = []skipped{{Name: compose, Reason: "Docker Compose is not installed"}}
	}
	add("healthy5", opUp, embedded, sample{Round: 1, Seconds: 0.2,
		Error: "dependency failed to start: container bench0000-healthy5-embedded-h1-1 has no healthcheck configured"})
	add("healthy5", opNoopUp, embedded, sample{Round: 1, Skipped: true, Error: "skipped: up -d failed"})
	add("healthy5", opUp, docker, sample{Round: 1, Seconds: 5})
	r.Supervisor = &supervisorPeaks{Stack: "wide20", After: opNoopUp, Containers: 20,
		Samples: []peakSample{{Round: 1, MiB: 20}, {Round: 2, MiB: 22}, {Round: 3, Error: "0 supervisors of project x run, want 1"}}}
	r.summarize()
	return r
}

func TestComparesCompWithComposeElseTheEmbeddedRuntimeWithDocker(t *testing.T) {
	find := func(r *report, stack, op, runtime string) *series {
		for _, s := range r.Results {
			if s.Stack == stack && s.Operation == op && s.Runtime == runtime {
				return s
			}
		}
		t.Fatalf("no series %s %s %s", stack, op, runtime)
		return nil
	}

	r := sampleReport(true)
	emb := find(r, "wide20", opUp, embedded)
	// compose: median of 4 and 2 is 3; rounds 1 and 3 only, round 2 failed.
	if emb.Ratio == nil || emb.Ratio.Peer != compose || emb.Ratio.OfMedians != 1.0/3 || len(emb.Ratio.PerRound) != 2 ||
		emb.Ratio.Min != 0.25 || emb.Ratio.Max != 0.5 {
		t.Errorf("embedded vs compose = %+v", emb.Ratio)
	}
	if d := find(r, "wide20", opUp, docker); d.Ratio == nil || d.Ratio.Peer != compose {
		t.Errorf("docker vs compose = %+v", d.Ratio)
	}
	if c := find(r, "wide20", opUp, compose); c.Ratio != nil {
		t.Errorf("compose has a ratio to itself: %+v", c.Ratio)
	}

	r = sampleReport(false)
	if emb := find(r, "wide20", opUp, embedded); emb.Ratio == nil || emb.Ratio.Peer != docker || emb.Ratio.OfMedians != 1.0/3 {
		t.Errorf("embedded vs docker without compose = %+v", emb.Ratio)
	}
	if d := find(r, "wide20", opUp, docker); d.Ratio != nil {
		t.Errorf("docker without compose has a ratio: %+v", d.Ratio)
	}
	if h := find(r, "healthy5", opUp, embedded); h.Summary != nil || h.Ratio != nil {
		t.Errorf("a series that always failed has a summary or a ratio: %+v %+v", h.Summary, h.Ratio)
	}
}

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		compose bool
	}{{"with_compose", true}, {"without_compose", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := sampleReport(tc.compose).writeTable(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "table_"+tc.name+".golden"), b.Bytes())
		})
	}
}

// golden compares got with the file at path, or rewrites the file with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
