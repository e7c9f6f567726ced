package pipeline

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

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
	last     time.Time // when an expected id last finished (or the set was created)
}

func newDoneSet() *doneSet {
	return &doneSet{ids: map[string]struct{}{}, all: make(chan struct{}), last: time.Now()}
}

// idle is how long no expected id has finished.
func (d *doneSet) idle() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Since(d.last)
}

// waitingFor reports whether id is expected and not finished yet.
func (d *doneSet) waitingFor(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.waiting[id]
	return ok
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
	d.last = time.Now()
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

// loadDead marks what a dead-letter log holds as finished: queries dead-lettered past ingest,
// and the ingest dead letters themselves (bad lines are not published again).
func (d *doneSet) loadDead(ctx context.Context, path string) error {
	_, err := schemas.DecodeFile(ctx, path, maxScoredLine, schemas.DecodeDeadLetter, func(dl schemas.DeadLetter) error {
		switch {
		case dl.Key == "":
		case dl.Stage == StageIngest:
			d.mark(ingestKey(dl.Key))
		default:
			d.mark(queryKey(dl.Key))
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
