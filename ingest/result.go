package ingest

import (
	"strconv"
	"strings"
)

// Result is the JSON answer to a request answered 200. Lines are numbered from 1 as they
// appear in the body (after gzip decoding), blank lines included in the numbering but not in
// any count. Every non-blank line is in exactly one of the three counts; the line numbers of
// duplicates and dead letters are listed as ranges ("3,7-9"), so every line not listed there
// (and not blank) was accepted.
type Result struct {
	Lines        int `json:"lines"`
	Accepted     int `json:"accepted"`
	Duplicates   int `json:"duplicates"`
	DeadLettered int `json:"dead_lettered"`
	// DuplicateLines are the lines already on the queries topic (published earlier within the
	// de-duplication window, by this request's earlier lines or by an earlier request).
	DuplicateLines string `json:"duplicate_lines,omitempty"`
	// DeadLetteredLines maps a reason to the lines dead-lettered for it.
	DeadLetteredLines map[string]string `json:"dead_lettered_lines,omitempty"`
}

// lineRanges accumulates increasing line numbers as compact ranges.
type lineRanges struct {
	b          strings.Builder
	first, end int // the open range [first, end]; end == 0: none open
}

func (r *lineRanges) add(n int) {
	if r.end != 0 && n == r.end+1 {
		r.end = n
		return
	}
	r.flush()
	r.first, r.end = n, n
}

func (r *lineRanges) flush() {
	if r.end == 0 {
		return
	}
	if r.b.Len() > 0 {
		r.b.WriteByte(',')
	}
	r.b.WriteString(strconv.Itoa(r.first))
	if r.end > r.first {
		r.b.WriteByte('-')
		r.b.WriteString(strconv.Itoa(r.end))
	}
	r.end = 0
}

func (r *lineRanges) String() string {
	r.flush()
	return r.b.String()
}

// lineStatus is the outcome of one line.
type lineStatus uint8

const (
	statusPending lineStatus = iota
	statusAccepted
	statusDuplicate
	statusDeadLettered
)

// buildResult summarizes the outcomes of lines (in body order).
func buildResult(lines []reqLine) Result {
	res := Result{Lines: len(lines)}
	var dups lineRanges
	dead := map[string]*lineRanges{}
	for _, l := range lines {
		switch l.status {
		case statusAccepted:
			res.Accepted++
		case statusDuplicate:
			res.Duplicates++
			dups.add(l.num)
		case statusDeadLettered:
			res.DeadLettered++
			r := dead[l.reason]
			if r == nil {
				r = &lineRanges{}
				dead[l.reason] = r
			}
			r.add(l.num)
		}
	}
	res.DuplicateLines = dups.String()
	if len(dead) > 0 {
		res.DeadLetteredLines = make(map[string]string, len(dead))
		for reason, r := range dead {
			res.DeadLetteredLines[reason] = r.String()
		}
	}
	return res
}
