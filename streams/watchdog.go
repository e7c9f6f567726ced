package streams

import (
	"slices"
	"time"
)

// watchdog decides when partitions of a stage's input are stalled: they have lag, the group's
// committed offset on them has not moved, and nothing in this process worked on them, all for
// longer than timeout. It lives across the rejoins of one Run, so that it can tell when a
// stall it reported is over.
type watchdog struct {
	timeout time.Duration
	parts   map[int]*partWatch
	// stalled holds the committed offsets of the partitions last reported stalled; the
	// stall is over when each has moved past it or caught up.
	stalled map[int]int64
}

type partWatch struct {
	committed int64
	since     time.Time // when committed last changed or the partition last had no lag
}

// observe takes one reading of the group's offsets and returns the partitions stalled now,
// and whether a previously reported stall has just cleared. active reports whether this
// process worked on a partition recently (fetched from it or has inputs of it in flight).
func (w *watchdog) observe(now time.Time, committed, end map[int]int64, active func(p int) bool) (stalled []int, recovered bool) {
	if w.parts == nil {
		w.parts = map[int]*partWatch{}
	}
	for p, e := range end {
		c := committed[p]
		pw := w.parts[p]
		switch {
		case pw == nil:
			w.parts[p] = &partWatch{committed: c, since: now}
			continue
		case c != pw.committed || c >= e || active(p):
			pw.committed, pw.since = c, now
			continue
		}
		if now.Sub(pw.since) > w.timeout {
			stalled = append(stalled, p)
		}
	}
	if len(w.stalled) > 0 {
		over := true
		for p, c := range w.stalled {
			if committed[p] == c && committed[p] < end[p] {
				over = false
			}
		}
		if over {
			w.stalled, recovered = nil, true
		}
	}
	if len(stalled) > 0 {
		slices.Sort(stalled)
		w.stalled = map[int]int64{}
		for _, p := range stalled {
			w.stalled[p] = committed[p]
			w.parts[p].since = now // the rejoin gets a full timeout before the next report
		}
	}
	return stalled, recovered
}
