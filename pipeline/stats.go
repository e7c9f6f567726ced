package pipeline

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// stageStats counts finished inputs per stage and appends snapshots to metrics.jsonl, the
// file `lsrflow report` plots throughput from (Prometheus has the same counters live).
type stageStats struct {
	mu     sync.Mutex
	counts map[string]*stageCount
}

type stageCount struct{ in, out, dead int }

// MetricsLine is one line of metrics.jsonl: cumulative counts of a stage at a time.
type MetricsLine struct {
	Time        time.Time `json:"time"`
	Stage       string    `json:"stage"`
	In          int       `json:"in"`
	Out         int       `json:"out"`
	DeadLetters int       `json:"dead_letters"`
}

func newStageStats() *stageStats { return &stageStats{counts: map[string]*stageCount{}} }

func (s *stageStats) add(stage string, in, out, dead int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts[stage]
	if c == nil {
		c = &stageCount{}
		s.counts[stage] = c
	}
	c.in += in
	c.out += out
	c.dead += dead
}

// observe returns a Stage.OnDone callback that counts for stage.
func (s *stageStats) observe(stage string) func(streams.Message, []streams.Message, bool) {
	return func(_ streams.Message, outs []streams.Message, dead bool) {
		if dead {
			s.add(stage, 1, 0, 1)
			return
		}
		s.add(stage, 1, len(outs), 0)
	}
}

func (s *stageStats) snapshot(now time.Time) []MetricsLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.counts))
	for n := range s.counts {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]MetricsLine, 0, len(names))
	for _, n := range names {
		c := s.counts[n]
		out = append(out, MetricsLine{Time: now.UTC(), Stage: n, In: c.in, Out: c.out, DeadLetters: c.dead})
	}
	return out
}

// writeLoop appends a snapshot every interval and a final one when stopped.
func (s *stageStats) writeLoop(path string, every time.Duration) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	write := func() {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return // metrics are best effort; the run's outputs do not depend on them
		}
		defer f.Close()
		enc := json.NewEncoder(f)
		for _, l := range s.snapshot(time.Now()) {
			_ = enc.Encode(l)
		}
	}
	write() // a first sample at the start, so that even a short run has a rate
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				write()
			case <-quit:
				write()
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}
