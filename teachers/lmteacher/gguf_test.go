package lmteacher_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/gguf"
	"github.com/lsrflow/lsrflow/lm/gguf/ggufwrite"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// TestGGUFTeacherEndToEnd: an LSR teacher on a random-weight GGUF ("gguf:PATH") gives per-passage
// log-likelihoods equal (within 1e-4) to scoring each (passage, answer) alone with logits
// everywhere, combined by max, and a distribution equal to an independent float64 softmax.
func TestGGUFTeacherEndToEnd(t *testing.T) {
	lib := testenv.CachePath(t, "llama", "llama", "lib")
	vocab := testenv.CachePath(t, "llama", "llama", "src", "models", "ggml-vocab-llama-spm.gguf")
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := ggufwrite.Write(path, vocab, ggufwrite.Tiny(3)); err != nil {
		t.Fatal(err)
	}
	tch, err := lmteacher.Open(t.Context(), lmteacher.Config{LM: "gguf:" + path, LibDir: lib, Threads: 1, ContextSize: 512, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	answers := []string{"Zürich", "1,000", "東京"}
	c := cands("g1", answers, "d1", "d2", "d3")
	s, err := tch.Teach(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	m := tch.Scorer().(*gguf.Model)
	tm := prompt.Default("")
	var raw []float64
	for i, d := range c.Docs {
		best := math.Inf(-1)
		for _, a := range answers {
			r, err := m.ScoreOne(t.Context(), lm.Request{Prompt: tm.QA(c.Query.Question, c.Docs[i:i+1]), Target: " " + a}, gguf.FullLogits)
			if err != nil {
				t.Fatal(err)
			}
			best = math.Max(best, sum(r.TokenLogprobs))
		}
		raw = append(raw, best)
		if math.Abs(best-s.TeacherScores[i]) > 1e-4 {
			t.Errorf("%s: teacher %v, alone %v", d.ID, s.TeacherScores[i], best)
		}
	}
	want := refSoftmax(raw, 1)
	for i := range want {
		if math.Abs(want[i]-s.Scores[i]) > 1e-4 {
			t.Errorf("dist %d: %v want %v", i, s.Scores[i], want[i])
		}
	}
	if s.Teacher.Precision == "" || s.Teacher.Model == "" {
		t.Errorf("identity %+v", s.Teacher)
	}
}
