package ingest

import (
	"sync"
	"time"
)

// lineKey identifies a line's content: a truncated SHA-256 (128 bits; a collision among even
// 10^9 remembered lines has probability below 10^-20).
type lineKey [16]byte

// ledgerEntryBytes is what one remembered key costs: 24 bytes in the ring and a map slot of
// 16+8 bytes with its control byte at the map's load factor and table rounding (measured
// 98-102 bytes in all by TestLedgerMemoryPerEntry, which checks this bound).
const ledgerEntryBytes = 112

// ledger is the de-duplication state of the ingest: for every line key, whether it is
// published (acknowledged less than window ago) or being published by a flight right now.
//
// Published keys live in a ring in acknowledgement order, with a byte budget: the oldest are
// forgotten first, by expiry or when the ring is full (then a repeat of a forgotten line passes
// as new: the price of bounded memory, counted in the evicted metric). Pending keys are not
// part of the budget: they are bounded by the requests in flight times their lines.
//
// A key is recorded as published only after its publish was acknowledged, so a failed publish
// never makes a line look like a duplicate.
type ledger struct {
	window time.Duration

	mu      sync.Mutex
	ring    []ledgerEntry // circular, oldest at head
	head, n int
	seq     uint64             // sequence number of the next entry
	index   map[lineKey]uint64 // key -> sequence number of its newest ring entry
	pending map[lineKey]*flight
	evicted int64 // entries dropped before their window ended (ring full)
}

type ledgerEntry struct {
	key  lineKey
	seen int64 // UnixNano of the acknowledgement
}

// newLedger returns a ledger remembering published keys for window within about budget bytes
// (window <= 0: published keys are not remembered; pending ones still are).
func newLedger(window time.Duration, budget int64) *ledger {
	l := &ledger{window: window, pending: map[lineKey]*flight{}}
	if window > 0 {
		capacity := int(max(budget/ledgerEntryBytes, 1))
		l.ring = make([]ledgerEntry, capacity)
		l.index = make(map[lineKey]uint64, capacity)
	}
	return l
}

// claimState is what claim found for a key.
type claimState uint8

const (
	claimOwn       claimState = iota // the caller's flight publishes it
	claimPublished                   // acknowledged within the window: a duplicate
	claimWait                        // another flight is publishing it: wait for its outcome
)

// claim classifies keys (parallel to out and waits) and makes f the publisher of every key
// that is neither published nor pending. waits[i] is the flight to wait for when out[i] is
// claimWait.
func (l *ledger) claim(keys []lineKey, now time.Time, f *flight, out []claimState, waits []*flight) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	for i, k := range keys {
		if p, ok := l.pending[k]; ok {
			out[i], waits[i] = claimWait, p
			continue
		}
		if l.publishedLocked(k) {
			out[i] = claimPublished
			continue
		}
		l.pending[k] = f
		out[i] = claimOwn
	}
}

// settle ends f's claim on keys: each is recorded as published at now when ok, and is free to
// be claimed again either way.
func (l *ledger) settle(keys []lineKey, f *flight, ok bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if l.pending[k] != f {
			continue
		}
		delete(l.pending, k)
		if ok {
			l.recordLocked(k, now)
		}
	}
}

// stats returns the published keys held, the pending keys and the early evictions so far.
func (l *ledger) stats() (published, pending int, evicted int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, len(l.pending), l.evicted
}

func (l *ledger) publishedLocked(k lineKey) bool {
	if l.index == nil {
		return false
	}
	_, ok := l.index[k]
	return ok
}

func (l *ledger) recordLocked(k lineKey, now time.Time) {
	if l.index == nil {
		return
	}
	if l.n == len(l.ring) {
		l.popLocked()
		l.evicted++
	}
	l.ring[(l.head+l.n)%len(l.ring)] = ledgerEntry{key: k, seen: now.UnixNano()}
	l.index[k] = l.seq + uint64(l.n)
	l.n++
}

// expireLocked drops the entries acknowledged a window or more before now.
func (l *ledger) expireLocked(now time.Time) {
	if l.index == nil {
		return
	}
	cut := now.Add(-l.window).UnixNano()
	for l.n > 0 && l.ring[l.head].seen <= cut {
		l.popLocked()
	}
}

// popLocked removes the oldest entry (its key stays indexed if a newer entry has it).
func (l *ledger) popLocked() {
	e := l.ring[l.head]
	if s, ok := l.index[e.key]; ok && s == l.seq {
		delete(l.index, e.key)
	}
	l.ring[l.head] = ledgerEntry{}
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	l.seq++
}
