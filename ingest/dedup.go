package ingest

import (
	"container/list"
	"sync"
	"time"
)

// Dedup is a bounded set of recently seen keys: a key is a duplicate when it was added less
// than window ago. Entries older than window expire; beyond capacity the oldest are evicted
// (then a very old repeat may pass as new, which is the price of bounded memory). Safe for
// concurrent use.
type Dedup struct {
	window   time.Duration
	capacity int

	mu    sync.Mutex
	order *list.List // of *dedupEntry, oldest first
	index map[string]*list.Element
}

type dedupEntry struct {
	key  string
	seen time.Time
}

// NewDedup returns a set with the given window and capacity (capacity <= 0: 100,000).
func NewDedup(window time.Duration, capacity int) *Dedup {
	if capacity <= 0 {
		capacity = 100_000
	}
	return &Dedup{window: window, capacity: capacity, order: list.New(), index: map[string]*list.Element{}}
}

// Reserve marks key as seen at now and reports whether it was new. A key seen less than the
// window ago is not new and keeps its first time (the window is counted from the first
// occurrence, so a steady repeat is let through again once per window).
func (d *Dedup) Reserve(key string, now time.Time) bool {
	if d == nil || d.window <= 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	if e, ok := d.index[key]; ok {
		if now.Sub(e.Value.(*dedupEntry).seen) < d.window {
			return false
		}
		d.order.Remove(e)
		delete(d.index, key)
	}
	d.index[key] = d.order.PushBack(&dedupEntry{key: key, seen: now})
	for d.order.Len() > d.capacity {
		d.removeLocked(d.order.Front())
	}
	return true
}

// Forget removes keys reserved by a request whose publish failed, so a retry is not
// mistaken for a duplicate.
func (d *Dedup) Forget(keys ...string) {
	if d == nil || d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if e, ok := d.index[k]; ok {
			d.removeLocked(e)
		}
	}
}

// Len returns the number of keys held.
func (d *Dedup) Len() int {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

func (d *Dedup) expireLocked(now time.Time) {
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		if now.Sub(e.Value.(*dedupEntry).seen) < d.window {
			return
		}
		d.removeLocked(e)
	}
}

func (d *Dedup) removeLocked(e *list.Element) {
	d.order.Remove(e)
	delete(d.index, e.Value.(*dedupEntry).key)
}
