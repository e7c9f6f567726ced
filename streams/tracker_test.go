package streams

import (
	"slices"
	"testing"
)

func TestTrackerPrefixReplayForget(t *testing.T) {
	tr := newTracker()
	msg := func(p int, off int64) Message { return Message{Topic: "t", Partition: p, Offset: off} }
	offsets := func(ms []Message) []int64 {
		var out []int64
		for _, m := range ms {
			out = append(out, m.Offset)
		}
		return out
	}
	e := map[int64]*trackEntry{}
	for off := range int64(5) {
		e[off], _ = tr.add(msg(0, off))
	}
	tr.done(e[0])
	tr.done(e[1])
	tr.done(e[3]) // 2 is in flight: 3 must wait
	if got := tr.ready(); !slices.Equal(offsets(got), []int64{1}) {
		t.Fatalf("ready %v, want offset 1", got)
	}
	if freed := tr.committed(tr.ready()); freed != 2 {
		t.Fatalf("commit released %d slots, want 2", freed)
	}
	if got := tr.ready(); len(got) != 0 {
		t.Fatalf("ready after commit %v, want nothing", got)
	}
	// The partition is handed back from offset 3: 3 and 4 come again, the old handles are dead.
	e3, freed := tr.add(msg(0, 3))
	if freed != 2 {
		t.Fatalf("replay from 3 released %d slots, want 2 (offsets 3 and 4)", freed)
	}
	tr.done(e[4]) // a late completion of the replaced entry changes nothing
	tr.done(e[2])
	if got := tr.ready(); !slices.Equal(offsets(got), []int64{2}) {
		t.Fatalf("ready after replay %v, want offset 2", got)
	}
	if !tr.busy("t", 0) {
		t.Fatal("partition with offset 3 in flight not busy")
	}
	tr.done(e3)
	if got := tr.ready(); !slices.Equal(offsets(got), []int64{3}) {
		t.Fatalf("ready %v, want offset 3", got)
	}
	if freed := tr.forget("t", 0); freed != 2 {
		t.Fatalf("forget released %d slots, want 2 (offsets 2 and 3)", freed)
	}
	if got := tr.ready(); len(got) != 0 || tr.busy("t", 0) {
		t.Fatalf("forgotten partition still tracked: %v", got)
	}
}
