package streamstest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/streamstest"
)

func TestHarness(t *testing.T) {
	h := streamstest.NewHarness(t)
	upper := streams.ProcessorFunc(func(_ context.Context, m streams.Message) ([]streams.Message, error) {
		if string(m.Value) == "bad" {
			return nil, streams.Permanent("bad_input", errors.New("bad value"))
		}
		return []streams.Message{{Key: m.Key, Value: []byte(strings.ToUpper(string(m.Value)))}}, nil
	})
	h.Start(streams.Stage{Name: "upper", Input: "in", Output: "out", DeadLetters: "dl", Processor: upper})
	h.PublishValues("in", "a", "bad", "b", "c")
	got := h.WaitFor("out", 3, 0)
	var vals []string
	for _, m := range got {
		vals = append(vals, string(m.Value))
	}
	slices.Sort(vals)
	if !slices.Equal(vals, []string{"A", "B", "C"}) {
		t.Errorf("out = %v, want A B C", vals)
	}
	if dl := h.WaitFor("dl", 1, 0); len(dl) != 1 {
		t.Errorf("dead letters: %d, want 1", len(dl))
	}
}
