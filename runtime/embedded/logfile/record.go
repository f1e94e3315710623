// Package logfile stores a container's output in the CRI log format, one record per line:
//
//	<RFC 3339 time, UTC> <stdout|stderr> <F|P> <text>
//
// P marks a partial record (a long line split at MaxRecordText bytes) that the next record of
// the same stream continues; F ends a line. Files rotate by size, as Docker's json-file driver
// does with max-size and max-file, and Read works with no writer running, so `logs -f` needs
// only the files.
package logfile

import (
	"bytes"
	"time"
)

// MaxRecordText is the most text one record holds; longer lines are split into P records.
const MaxRecordText = 16 * 1024

const (
	tagFull    = 'F'
	tagPartial = 'P'
)

// appendRecord appends one record line, newline included, to b.
func appendRecord(b []byte, t time.Time, stream string, tag byte, text []byte) []byte {
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, text...)
	return append(b, '\n')
}

// record is one parsed record; stream and text alias the line they were parsed from.
type record struct {
	time    time.Time
	stream  []byte
	partial bool
	text    []byte
}

// parseRecord parses one record line without its newline. Lines that are not records (a torn
// write after a crash) give false and are skipped by readers.
func parseRecord(line []byte) (record, bool) {
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(stream) == 0 {
		return r, false
	}
	tag, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(tag) == 0 {
		// "<time> <stream> F" is an empty line whose trailing space was lost; accept it.
		tag, text = rest, nil
	}
	// CRI allows further tags after a colon ("F:..."); only the first one matters here.
	if len(tag) > 1 && tag[1] != ':' {
		return r, false
	}
	switch tag[0] {
	case tagFull:
	case tagPartial:
		r.partial = true
	default:
		return r, false
	}
	t, ok := parseTime(ts)
	if !ok {
		return r, false
	}
	r.time, r.stream, r.text = t, stream, text
	return r, true
}

// parseTime parses an RFC 3339 time. The UTC form the Writer writes
// ("2006-01-02T15:04:05.999999999Z") is parsed without allocating; others go to time.Parse.
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseUTC(b); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}

func parseUTC(b []byte) (time.Time, bool) {
	const base = len("2006-01-02T15:04:05Z")
	if len(b) < base || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' ||
		b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}
