package pipeline

import (
	"errors"
	"os"
	"sync"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/jsonl"
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

func (d *doneSet) loadScored(path, teacherKey string) error {
	recs, err := jsonl.ReadAll(path, func(b []byte) (schemas.Scored, error) {
		s, err := schemas.DecodeScored(b)
		if err != nil {
			return schemas.Scored{}, nil // torn or foreign line: the sink keeps it, we skip it
		}
		return s, nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range recs {
		if s.ID != "" && s.TeacherKey == teacherKey {
			d.ids[queryKey(s.ID)] = struct{}{}
		}
	}
	return nil
}

func (d *doneSet) loadDead(path string) error {
	recs, err := jsonl.ReadAll(path, func(b []byte) (schemas.DeadLetter, error) {
		dl, err := schemas.DecodeDeadLetter(b)
		if err != nil {
			return schemas.DeadLetter{}, nil
		}
		return dl, nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dl := range recs {
		if dl.Stage != "" && dl.Stage != StageIngest && dl.Key != "" {
			d.ids[queryKey(dl.Key)] = struct{}{}
		}
	}
	return nil
}
