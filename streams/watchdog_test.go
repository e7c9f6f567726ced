package streams

import (
	"slices"
	"testing"
	"time"
)

func TestWatchdogObserve(t *testing.T) {
	w := &watchdog{timeout: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	idle := func(int) bool { return false }
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// p0 moves, p1 is stuck with lag, p2 has no lag.
	end := map[int]int64{0: 100, 1: 50, 2: 7}
	steps := []struct {
		sec       int
		committed map[int]int64
		active    func(int) bool
		stalled   []int
		recovered bool
	}{
		{0, map[int]int64{0: 10, 1: 5, 2: 7}, idle, nil, false},
		{5, map[int]int64{0: 20, 1: 5, 2: 7}, idle, nil, false},
		{10, map[int]int64{0: 30, 1: 5, 2: 7}, idle, nil, false},                               // exactly the timeout: not yet
		{11, map[int]int64{0: 40, 1: 5, 2: 7}, idle, []int{1}, false},                          // past it: stalled
		{15, map[int]int64{0: 50, 1: 5, 2: 7}, idle, nil, false},                               // a full timeout before the next report
		{22, map[int]int64{0: 60, 1: 5, 2: 7}, func(p int) bool { return p == 1 }, nil, false}, // worked on here: not stalled
		{40, map[int]int64{0: 70, 1: 6, 2: 7}, idle, nil, true},                                // moved: the stall is over
	}
	for _, s := range steps {
		stalled, recovered := w.observe(at(s.sec), s.committed, end, s.active)
		if !slices.Equal(stalled, s.stalled) || recovered != s.recovered {
			t.Fatalf("t=%ds: stalled %v recovered %v, want %v %v", s.sec, stalled, recovered, s.stalled, s.recovered)
		}
	}
}
