package streams

import "sync"

// tracker remembers, per partition, the fetched offsets in order and which are finished, so
// that only the contiguous finished prefix is committed: an input is never committed while
// an earlier one of its partition is still in flight.
type tracker struct {
	mu    sync.Mutex
	parts map[partKey]*partQueue
}

type partKey struct {
	topic     string
	partition int
}

type partQueue struct {
	entries []trackEntry // fetch order == offset order
}

type trackEntry struct {
	msg  Message
	done bool
}

func newTracker() *tracker { return &tracker{parts: map[partKey]*partQueue{}} }

func (t *tracker) add(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := partKey{m.Topic, m.Partition}
	q := t.parts[k]
	if q == nil {
		q = &partQueue{}
		t.parts[k] = q
	}
	// A rebalance can hand a partition back and replay from an older offset: forget what we
	// held for it beyond that point, those entries come again.
	for len(q.entries) > 0 && q.entries[len(q.entries)-1].msg.Offset >= m.Offset {
		q.entries = q.entries[:len(q.entries)-1]
	}
	q.entries = append(q.entries, trackEntry{msg: m})
}

func (t *tracker) find(m Message) (*partQueue, int) {
	q := t.parts[partKey{m.Topic, m.Partition}]
	if q == nil {
		return nil, -1
	}
	for i := range q.entries {
		if q.entries[i].msg.Offset == m.Offset {
			return q, i
		}
	}
	return q, -1
}

func (t *tracker) done(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, i := t.find(m); i >= 0 {
		q.entries[i].done = true
	}
}

// drop forgets an entry that was never handed to a worker (and everything after it).
func (t *tracker) drop(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, i := t.find(m); i >= 0 {
		q.entries = q.entries[:i]
	}
}

// ready returns, per partition, the last message of the finished prefix.
func (t *tracker) ready() []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Message
	for _, q := range t.parts {
		n := 0
		for n < len(q.entries) && q.entries[n].done {
			n++
		}
		if n > 0 {
			out = append(out, q.entries[n-1].msg)
		}
	}
	return out
}

// committed removes the committed prefixes.
func (t *tracker) committed(msgs []Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		q := t.parts[partKey{m.Topic, m.Partition}]
		if q == nil {
			continue
		}
		n := 0
		for n < len(q.entries) && q.entries[n].msg.Offset <= m.Offset {
			n++
		}
		q.entries = q.entries[n:]
	}
}
