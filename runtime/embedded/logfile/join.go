package logfile

import (
	"slices"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// orderSlack is how far out of time order records may be (two streams stamp their lines
// before taking turns to write them): readers stop at Since or Until only this far past it.
const orderSlack = time.Second

// joiner turns records read forwards into lines: P records are held until the F record of
// their stream, and a line takes the time of its first part. It passes on the lines within
// Since and Until.
type joiner struct {
	since, until time.Time
	sink         func(runtime.LogLine)
	open         map[string]*partialLine // by stream
	// pastUntil: a record well past Until was met; only lines begun before are finished.
	pastUntil bool
}

type partialLine struct {
	time time.Time
	text []byte
}

func newJoiner(opts runtime.LogOptions, sink func(runtime.LogLine)) *joiner {
	return &joiner{since: opts.Since, until: opts.Until, sink: sink, open: map[string]*partialLine{}}
}

// record handles one record line; it returns false once the records are past Until and no
// line begun before is still open.
func (j *joiner) record(line []byte) bool {
	rec, ok := parseRecord(line)
	if !ok {
		return true
	}
	if !j.until.IsZero() && rec.time.After(j.until.Add(orderSlack)) {
		j.pastUntil = true
	}
	p := j.open[string(rec.stream)]
	if j.pastUntil && p == nil {
		return len(j.open) > 0
	}
	if rec.partial {
		if p == nil {
			p = &partialLine{time: rec.time}
			j.open[streamName(rec.stream)] = p
		}
		p.text = append(p.text, rec.text...)
		return true
	}
	if p == nil {
		if j.wants(rec.time) {
			j.sink(runtime.LogLine{Stream: streamName(rec.stream), Time: rec.time, Text: string(rec.text)})
		}
		return true
	}
	delete(j.open, string(rec.stream))
	if j.wants(p.time) {
		j.sink(runtime.LogLine{Stream: streamName(rec.stream), Time: p.time, Text: string(append(p.text, rec.text...))})
	}
	return !j.pastUntil || len(j.open) > 0
}

// flush passes on the lines whose last part never came (the writer died mid-line).
func (j *joiner) flush() {
	streams := make([]string, 0, len(j.open))
	for s := range j.open {
		streams = append(streams, s)
	}
	slices.SortFunc(streams, func(a, b string) int { return j.open[a].time.Compare(j.open[b].time) })
	for _, s := range streams {
		p := j.open[s]
		delete(j.open, s)
		if j.wants(p.time) {
			j.sink(runtime.LogLine{Stream: s, Time: p.time, Text: string(p.text)})
		}
	}
}

func (j *joiner) wants(t time.Time) bool {
	return (j.since.IsZero() || !t.Before(j.since)) && (j.until.IsZero() || !t.After(j.until))
}

// streamName returns b as a string, without allocating for the two usual streams.
func streamName(b []byte) string {
	switch string(b) {
	case runtime.Stdout:
		return runtime.Stdout
	case runtime.Stderr:
		return runtime.Stderr
	}
	return string(b)
}
