package ingest

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

func keyN(i int) lineKey {
	var k lineKey
	binary.LittleEndian.PutUint64(k[:], uint64(i)*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(k[8:], uint64(i))
	return k
}

// publish claims and settles keys as one successful flight.
func publish(l *ledger, now time.Time, keys ...lineKey) []claimState {
	f := newFlight()
	st := make([]claimState, len(keys))
	l.claim(keys, now, f, st, make([]*flight, len(keys)))
	l.settle(keys, f, true, now)
	return st
}

func TestLedgerWindowAndBudget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLedger(time.Minute, 100*ledgerEntryBytes)
	for i := range 1000 {
		if st := publish(l, now, keyN(i)); st[0] != claimOwn {
			t.Fatalf("key %d: %v", i, st[0])
		}
	}
	n, pending, evicted := l.stats()
	if n != 100 || pending != 0 || evicted != 900 {
		t.Fatalf("held %d, pending %d, evicted %d; want 100, 0, 900", n, pending, evicted)
	}
	if st := publish(l, now, keyN(999), keyN(0)); st[0] != claimPublished || st[1] != claimOwn {
		t.Fatalf("newest key %v (want published), evicted key %v (want own)", st[0], st[1])
	}
	// Expiry: a minute later everything is forgotten.
	if st := publish(l, now.Add(time.Minute), keyN(999)); st[0] != claimOwn {
		t.Fatalf("after the window: %v", st[0])
	}
	if n, _, _ := l.stats(); n != 1 {
		t.Fatalf("after expiry %d held, want 1", n)
	}
}

func TestLedgerFailedPublishFreesKeys(t *testing.T) {
	now := time.Now()
	l := newLedger(time.Minute, 1<<20)
	a, b := newFlight(), newFlight()
	keys := []lineKey{keyN(1), keyN(2)}
	st, waits := make([]claimState, 2), make([]*flight, 2)
	l.claim(keys, now, a, st, waits)
	l.claim(keys[1:], now, b, st[1:], waits[1:])
	if st[0] != claimOwn || st[1] != claimWait || waits[1] != a {
		t.Fatalf("states %v waits %v", st, waits)
	}
	l.settle(keys, a, false, now)
	if n, p, _ := l.stats(); n != 0 || p != 0 {
		t.Fatalf("after a failed publish: %d held, %d pending; want none", n, p)
	}
	l.claim(keys[1:], now, b, st[1:], waits[1:])
	if st[1] != claimOwn {
		t.Fatalf("after the failure the waiter's claim is %v, want own", st[1])
	}
	// A settle by a flight that does not own the key changes nothing.
	l.settle(keys[1:], a, true, now)
	if n, p, _ := l.stats(); n != 0 || p != 1 {
		t.Fatalf("foreign settle: %d held, %d pending", n, p)
	}
}

func TestLedgerDisabledWindowStillJoinsPending(t *testing.T) {
	l := newLedger(-1, 1<<20)
	now := time.Now()
	a := newFlight()
	st, waits := make([]claimState, 1), make([]*flight, 1)
	l.claim([]lineKey{keyN(1)}, now, a, st, waits)
	l.claim([]lineKey{keyN(1)}, now, newFlight(), st, waits)
	if st[0] != claimWait {
		t.Fatalf("pending key with dedup off: %v, want wait", st[0])
	}
	l.settle([]lineKey{keyN(1)}, a, true, now)
	if st := publish(l, now, keyN(1)); st[0] != claimOwn {
		t.Fatalf("published key remembered with dedup off: %v", st[0])
	}
}

// The ledger's real heap cost per remembered key stays within ledgerEntryBytes, so
// DedupMemory is a true bound.
func TestLedgerMemoryPerEntry(t *testing.T) {
	const budget = 8 << 20
	l := newLedger(time.Hour, budget)
	now := time.Now()
	capacity := budget / ledgerEntryBytes
	for i := range 3 * capacity { // fill, then churn through it twice
		publish(l, now, keyN(i))
	}
	if n, _, _ := l.stats(); n != capacity {
		t.Fatalf("held %d keys, want %d", n, capacity)
	}
	// What the ledger retains is the heap with it alive minus the heap once it is dropped:
	// a difference taken around the ledger alone, so that memory freed meanwhile by earlier
	// tests' goroutines cannot make it negative.
	alive := heapAlloc()
	runtime.KeepAlive(l)
	dropped := heapAlloc()
	used := int64(alive) - int64(dropped)
	t.Logf("%d keys in %d bytes: %.1f bytes per key (budget %d)", capacity, used, float64(used)/float64(capacity), ledgerEntryBytes)
	if used <= 0 {
		t.Fatalf("dropping the ledger freed %d bytes: the measurement does not see it", used)
	}
	if used > budget {
		t.Fatalf("the ledger takes %d bytes for a budget of %d", used, budget)
	}
}

// heapAlloc returns the bytes allocated on the heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
