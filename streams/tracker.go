package streams

import "sync"

// tracker remembers, per partition, the fetched offsets in order and which are finished, so
// that only the contiguous finished prefix is committed: an input is never committed while
// an earlier one of its partition is still in flight. It keeps only positions, never payloads.
type tracker struct {
	mu    sync.Mutex
	parts map[partKey]*partQueue
}

type partKey struct {
	topic     string
	partition int
}

type partQueue struct {
	entries []*trackEntry // entries[head:] are live, in fetch order == offset order
	head    int
}

// trackEntry is one fetched input. The pointer is the handle add returns: marking it done is
// O(1), and an entry dropped from its queue (a replayed partition) can still be marked
// harmlessly. released records that the entry gave back its in-flight slot; every way out of
// the tracker (committed, replayed, forgotten, abandoned) gives it back exactly once.
type trackEntry struct {
	offset   int64
	done     bool
	released bool
}

// release marks e released and reports whether it was not already.
func (e *trackEntry) release() bool {
	if e.released {
		return false
	}
	e.released = true
	return true
}

func newTracker() *tracker { return &tracker{parts: map[partKey]*partQueue{}} }

// add tracks m and returns its handle, and how many entries it released: a rebalance can
// hand a partition back and replay from an older offset, and what was held from that point on
// is dropped (those inputs come again).
func (t *tracker) add(m Message) (*trackEntry, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := partKey{m.Topic, m.Partition}
	q := t.parts[k]
	if q == nil {
		q = &partQueue{}
		t.parts[k] = q
	}
	freed := 0
	for len(q.entries) > q.head && q.entries[len(q.entries)-1].offset >= m.Offset {
		if q.entries[len(q.entries)-1].release() {
			freed++
		}
		q.entries[len(q.entries)-1] = nil
		q.entries = q.entries[:len(q.entries)-1]
	}
	e := &trackEntry{offset: m.Offset}
	q.entries = append(q.entries, e)
	return e, freed
}

// release gives back e's slot (an input abandoned at shutdown); it reports whether e still
// held one.
func (t *tracker) release(e *trackEntry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.release()
}

func (t *tracker) done(e *trackEntry) {
	t.mu.Lock()
	e.done = true
	t.mu.Unlock()
}

// ready returns, per partition, the last message of the finished prefix (only Topic,
// Partition and Offset are set).
func (t *tracker) ready() []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Message
	for k, q := range t.parts {
		n := q.head
		for n < len(q.entries) && q.entries[n].done {
			n++
		}
		if n > q.head {
			out = append(out, Message{Topic: k.topic, Partition: k.partition, Offset: q.entries[n-1].offset})
		}
	}
	return out
}

// committed removes the committed prefixes and returns how many entries it released.
func (t *tracker) committed(msgs []Message) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	freed := 0
	for _, m := range msgs {
		q := t.parts[partKey{m.Topic, m.Partition}]
		if q == nil {
			continue
		}
		for q.head < len(q.entries) && q.entries[q.head].offset <= m.Offset {
			if q.entries[q.head].release() {
				freed++
			}
			q.entries[q.head] = nil
			q.head++
		}
		if q.head == len(q.entries) {
			q.entries, q.head = q.entries[:0], 0
		} else if q.head > 1024 && q.head > len(q.entries)/2 {
			q.entries = append(q.entries[:0], q.entries[q.head:]...)
			q.head = 0
		}
	}
	return freed
}

// forget drops a partition that moved to another member (its inputs are the new owner's now)
// and returns how many entries it released.
func (t *tracker) forget(topic string, partition int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := partKey{topic, partition}
	freed := 0
	if q := t.parts[k]; q != nil {
		for _, e := range q.entries[q.head:] {
			if e.release() {
				freed++
			}
		}
	}
	delete(t.parts, k)
	return freed
}

// busy reports whether partition has inputs fetched but not finished.
func (t *tracker) busy(topic string, partition int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.parts[partKey{topic, partition}]
	if q == nil {
		return false
	}
	for _, e := range q.entries[q.head:] {
		if !e.done {
			return true
		}
	}
	return false
}

// reset forgets every partition (an aborted transaction: its inputs come again) and returns
// how many entries it released.
func (t *tracker) reset() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	freed := 0
	for k, q := range t.parts {
		for _, e := range q.entries[q.head:] {
			if e.release() {
				freed++
			}
		}
		delete(t.parts, k)
	}
	return freed
}
