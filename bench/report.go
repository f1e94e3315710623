package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything a run measured; --json prints it as it is.
type report struct {
	Started    time.Time        `json:"started"`
	Rounds     int              `json:"rounds"`
	Machine    machine          `json:"machine"`
	Contenders []contenderInfo  `json:"contenders"`
	Skipped    []skipped        `json:"skipped,omitempty"`
	Stacks     []stackInfo      `json:"stacks"`
	Results    []*series        `json:"results"`
	Supervisor *supervisorPeaks `json:"supervisor,omitempty"`
	Notes      []string         `json:"notes,omitempty"`
}

type machine struct {
	CPUs   int    `json:"cpus"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

type contenderInfo struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Version string `json:"version"`
}

// skipped is a contender that was asked for and could not run.
type skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type stackInfo struct {
	Name       string   `json:"name"`
	What       string   `json:"what"`
	Operations []string `json:"operations"`
}

// sample is one timing of one operation in one round: the wall-clock time of the command,
// successful or not.
type sample struct {
	Round   int     `json:"round"`
	Seconds float64 `json:"seconds"`
	// Error is why the command failed, or why it was not run ("skipped: …").
	Error   string `json:"error,omitempty"`
	Skipped bool   `json:"skipped,omitempty"`
}

func (s sample) ok() bool { return s.Error == "" && !s.Skipped }

// series are the samples of one operation on one stack by one contender, round by round.
type series struct {
	Stack     string `json:"stack"`
	Operation string `json:"operation"`
	Runtime   string `json:"runtime"`
	// Project is the compose project's name, which the errors repeat.
	Project string   `json:"project"`
	Samples []sample `json:"samples"`
	// Summary is nil when no sample succeeded.
	Summary *summary `json:"summary,omitempty"`
	// Ratio compares comp with its peer; nil for the peer itself or when either has no
	// successful sample.
	Ratio *ratio `json:"ratio,omitempty"`
}

// summary describes the successful samples of a series.
type summary struct {
	N       int     `json:"n"`
	Failed  int     `json:"failed"`
	Skipped int     `json:"skipped"`
	Median  float64 `json:"median_seconds"`
	Min     float64 `json:"min_seconds"`
	Max     float64 `json:"max_seconds"`
}

// ratio is comp's time divided by its peer's: below 1, comp is faster.
type ratio struct {
	Peer string `json:"peer"`
	// OfMedians is comp's median over the peer's median.
	OfMedians float64 `json:"of_medians"`
	// PerRound are the ratios of the rounds where both succeeded (same round, one after the
	// other); Min and Max are their range.
	PerRound []roundRatio `json:"per_round"`
	Min      float64      `json:"min"`
	Max      float64      `json:"max"`
}

type roundRatio struct {
	Round int     `json:"round"`
	Ratio float64 `json:"ratio"`
}

// supervisorPeaks is the embedded supervisor's peak resident memory, sampled once a round.
type supervisorPeaks struct {
	Stack      string       `json:"stack"`
	After      string       `json:"after"`
	Containers int          `json:"containers"`
	Samples    []peakSample `json:"samples"`
	MedianMiB  float64      `json:"median_mib,omitempty"`
	MinMiB     float64      `json:"min_mib,omitempty"`
	MaxMiB     float64      `json:"max_mib,omitempty"`
}

type peakSample struct {
	Round int     `json:"round"`
	MiB   float64 `json:"mib,omitempty"`
	Error string  `json:"error,omitempty"`
}

// series returns the series of op on stack by runtime, adding it on first use.
func (r *report) series(stack, op, runtime, project string) *series {
	for _, s := range r.Results {
		if s.Stack == stack && s.Operation == op && s.Runtime == runtime {
			return s
		}
	}
	s := &series{Stack: stack, Operation: op, Runtime: runtime, Project: project}
	r.Results = append(r.Results, s)
	return s
}

// summarize computes every series' summary and ratio, and the supervisor's.
func (r *report) summarize() {
	r.sort()
	for _, s := range r.Results {
		s.Summary = summarize(s.Samples)
	}
	for _, s := range r.Results {
		if peer := r.peer(s); peer != nil {
			s.Ratio = compare(s, peer)
		}
	}
	if sp := r.Supervisor; sp != nil {
		var mibs []float64
		for _, p := range sp.Samples {
			if p.Error == "" {
				mibs = append(mibs, p.MiB)
			}
		}
		if len(mibs) > 0 {
			sp.MedianMiB, sp.MinMiB, sp.MaxMiB = median(mibs), slices.Min(mibs), slices.Max(mibs)
		}
	}
}

// sort orders the results by stack, operation and runtime, each in the order it ran, so that
// the runtimes of one operation sit together.
func (r *report) sort() {
	rank := func(s *series) (int, int, int) {
		st := slices.IndexFunc(r.Stacks, func(i stackInfo) bool { return i.Name == s.Stack })
		op := -1
		if st >= 0 {
			op = slices.Index(r.Stacks[st].Operations, s.Operation)
		}
		rt := slices.IndexFunc(r.Contenders, func(c contenderInfo) bool { return c.Name == s.Runtime })
		return st, op, rt
	}
	slices.SortStableFunc(r.Results, func(a, b *series) int {
		a1, a2, a3 := rank(a)
		b1, b2, b3 := rank(b)
		return cmp.Or(cmp.Compare(a1, b1), cmp.Compare(a2, b2), cmp.Compare(a3, b3))
	})
}

// peer is the series comp's series s is compared with: Docker Compose's, else, for the
// embedded runtime, comp's own on Docker. Nil when there is none with a successful sample.
func (r *report) peer(s *series) *series {
	var candidates []string
	switch s.Runtime {
	case embedded:
		candidates = []string{compose, docker}
	case docker:
		candidates = []string{compose}
	}
	for _, name := range candidates {
		for _, p := range r.Results {
			if p.Stack == s.Stack && p.Operation == s.Operation && p.Runtime == name && p.Summary != nil {
				return p
			}
		}
	}
	return nil
}

func summarize(samples []sample) *summary {
	var ok []float64
	sum := &summary{}
	for _, s := range samples {
		switch {
		case s.Skipped:
			sum.Skipped++
		case s.Error != "":
			sum.Failed++
		default:
			ok = append(ok, s.Seconds)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	sum.N = len(ok)
	sum.Median, sum.Min, sum.Max = median(ok), slices.Min(ok), slices.Max(ok)
	return sum
}

func compare(s, peer *series) *ratio {
	if s.Summary == nil || peer.Summary == nil {
		return nil
	}
	r := &ratio{Peer: peer.Runtime, OfMedians: s.Summary.Median / peer.Summary.Median}
	for _, a := range s.Samples {
		for _, b := range peer.Samples {
			if a.Round == b.Round && a.ok() && b.ok() && b.Seconds > 0 {
				r.PerRound = append(r.PerRound, roundRatio{Round: a.Round, Ratio: a.Seconds / b.Seconds})
			}
		}
	}
	if len(r.PerRound) > 0 {
		r.Min, r.Max = r.PerRound[0].Ratio, r.PerRound[0].Ratio
		for _, rr := range r.PerRound {
			r.Min, r.Max = min(r.Min, rr.Ratio), max(r.Max, rr.Ratio)
		}
	}
	return r
}

// median of xs, which must not be empty: the middle value, or the mean of the two middle ones.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// writeJSON prints the report as indented JSON.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints one row per stack, operation and runtime: the median and range of the
// successful samples, comp's ratio to its peer, and failures.
func (r *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "%d round(s) per stack, the runtimes in turn within each round; wall-clock time of each command.\n", r.Rounds)
	for _, c := range r.Contenders {
		fmt.Fprintf(w, "  %-9s %s  (%s)\n", c.Name, c.Command, c.Version)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  %-9s skipped: %s\n", s.Name, s.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "COMP/PEER is comp's median over its peer's (Docker Compose; without it, comp on Docker for the")
	fmt.Fprintln(w, "embedded runtime), then the range of the ratios of the same round: below 1, comp is faster.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tOPERATION\tRUNTIME\tMEDIAN\tMIN–MAX\tCOMP/PEER (PER ROUND)\tNOTES")
	for _, s := range r.Results {
		med, rng, ratio := "—", "—", "—"
		if sum := s.Summary; sum != nil {
			med = seconds(sum.Median)
			rng = fmt.Sprintf("%.3f–%s", sum.Min, seconds(sum.Max))
		} else if failed(s) > 0 {
			med = "failed"
		} else {
			med = "skipped"
		}
		if rt := s.Ratio; rt != nil {
			ratio = fmt.Sprintf("%.2f× %s", rt.OfMedians, rt.Peer)
			if len(rt.PerRound) > 0 {
				ratio += fmt.Sprintf(" (%.2f–%.2f)", rt.Min, rt.Max)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Stack, s.Operation, s.Runtime, med, rng, ratio, notes(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sp := r.Supervisor; sp != nil {
		fmt.Fprintf(w, "\nembedded supervisor, peak RSS (VmHWM) with %d running containers (%s, after %s): ",
			sp.Containers, sp.Stack, sp.After)
		if sp.MedianMiB > 0 {
			fmt.Fprintf(w, "median %.1f MiB, min–max %.1f–%.1f MiB", sp.MedianMiB, sp.MinMiB, sp.MaxMiB)
		} else {
			fmt.Fprint(w, "not measured")
		}
		for _, p := range sp.Samples {
			if p.Error != "" {
				fmt.Fprintf(w, "; round %d: %s", p.Round, shorten(p.Error, 60))
			}
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func seconds(s float64) string { return fmt.Sprintf("%.3fs", s) }

func failed(s *series) int {
	n := 0
	for _, smp := range s.Samples {
		if !smp.Skipped && smp.Error != "" {
			n++
		}
	}
	return n
}

// notes says how many samples failed or were skipped, and the first failure's message, where
// the project's name is shortened to <project>.
func notes(s *series) string {
	var parts []string
	if n := failed(s); n > 0 {
		first := ""
		for _, smp := range s.Samples {
			if !smp.Skipped && smp.Error != "" {
				first = smp.Error
				break
			}
		}
		if s.Project != "" {
			first = strings.ReplaceAll(first, s.Project, "<project>")
		}
		if n == len(s.Samples) {
			parts = append(parts, "failed: "+shorten(first, 90))
		} else {
			parts = append(parts, fmt.Sprintf("%d/%d failed: %s", n, len(s.Samples), shorten(first, 90)))
		}
	}
	skips := 0
	reason := ""
	for _, smp := range s.Samples {
		if smp.Skipped {
			skips++
			reason = smp.Error
		}
	}
	if skips == len(s.Samples) {
		parts = append(parts, reason)
	} else if skips > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d %s", skips, len(s.Samples), reason))
	}
	return strings.Join(parts, "; ")
}
