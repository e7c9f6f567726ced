package scorecache_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/scorecache"
)

func TestSurvivesRestartAndTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scores.jsonl")
	c, err := scorecache.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k1 := scorecache.Key{Model: "m", Prompt: "p", PassageID: "d1", Passage: "text", Question: "q", Target: " a"}
	k2 := k1
	k2.Passage = "edited text"
	v1 := []float64{-0.1, -1.0000000000000002, -3.141592653589793}
	if err := c.Put([]scorecache.Key{k1}, [][]float64{v1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(k2); ok {
		t.Fatal("an edited passage under the same id must miss")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash in the middle of the next append.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"k":"abc","lp":[-1.`)
	f.Close()

	c, err = scorecache.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, ok := c.Get(k1)
	if !ok || len(got) != 3 {
		t.Fatalf("after restart: %v %v", got, ok)
	}
	for i := range v1 {
		if got[i] != v1[i] {
			t.Errorf("value %d: %v != %v (not bit-exact)", i, got[i], v1[i])
		}
	}
	if err := c.Put([]scorecache.Key{k2}, [][]float64{{-2}}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 0 || st.Loaded != 1 || st.Entries != 2 {
		t.Errorf("stats %+v", st)
	}
	c.Close()
	c, _ = scorecache.Open(path)
	defer c.Close()
	if _, ok := c.Get(k2); !ok {
		t.Error("entry written after a torn line was lost")
	}
}
