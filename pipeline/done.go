package pipeline

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/lsrflow/lsrflow/schemas"
)

// doneSet tracks which query ids are finished (scored by this teacher, or dead-lettered past
// ingest) and closes all once every expected id is finished. Each id counts once, however
// often a redelivered record reaches the sinks.
type doneSet struct {
	mu       sync.Mutex
	ids      map[string]struct{}
	waiting  map[string]struct{}
	all      chan struct{}
	closed   bool
	onFinish func()
}

func newDoneSet() *doneSet {
	return &doneSet{ids: map[string]struct{}{}, all: make(chan struct{})}
}

func (d *doneSet) has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.ids[id]
	return ok
}

// expect sets the ids to wait for; all closes at once when there are none.
func (d *doneSet) expect(ids map[string]struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.waiting = ids
	d.maybeClose()
}

// finish marks key finished; first runs only the first time key finishes during this run.
func (d *doneSet) finish(id string, first func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.waiting[id]; !ok {
		return // not part of this run (finished before, or a stray record)
	}
	delete(d.waiting, id)
	d.ids[id] = struct{}{}
	if first != nil {
		first()
	}
	if d.onFinish != nil {
		d.onFinish()
	}
	d.maybeClose()
}

func (d *doneSet) maybeClose() {
	if !d.closed && d.waiting != nil && len(d.waiting) == 0 {
		d.closed = true
		close(d.all)
	}
}

// mark records key as finished before the run (it is not waited for).
func (d *doneSet) mark(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids[key] = struct{}{}
}

// loadDead marks the queries dead-lettered past ingest in a dead-letter log as finished.
func (d *doneSet) loadDead(ctx context.Context, path string) error {
	_, err := schemas.DecodeFile(ctx, path, maxScoredLine, schemas.DecodeDeadLetter, func(dl schemas.DeadLetter) error {
		if dl.Stage != StageIngest && dl.Key != "" {
			d.mark(queryKey(dl.Key))
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
