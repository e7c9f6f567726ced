package answermatch

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

func cands(answers []string, contents ...string) schemas.Candidates {
	c := schemas.Candidates{
		SchemaVersion: schemas.CandidatesVersion,
		Query:         schemas.Query{SchemaVersion: 1, ID: "q1", Question: "who?", GoldenAnswers: answers},
		Retriever:     schemas.RetrieverInfo{Method: "bm25", Version: "v"},
	}
	for i, s := range contents {
		c.Docs = append(c.Docs, schemas.Passage{ID: string(rune('a' + i)), Contents: s, Score: float64(10 - i)})
	}
	return c
}

func TestTeach(t *testing.T) {
	tch, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := cands([]string{"The Beatles", "Fab Four"},
		"Title\nThey were the beatles, a band.", // matches after normalization (article, case)
		"Other\nNothing here.",
		"Band\nthe FAB-FOUR played", // punctuation removed: "fabfour" != "fab four"
		"X\nfab four!",
	)
	s, err := tch.Teach(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	wantRaw := []float64{1, 0, 0, 1}
	for i, w := range wantRaw {
		if s.TeacherScores[i] != w {
			t.Errorf("raw[%d] = %v, want %v", i, s.TeacherScores[i], w)
		}
	}
	// softmax([1,0,0,1]/0.1), by hand: relevant e^10/(2e^10+2), irrelevant 1/(2e^10+2).
	e := math.Exp(10)
	want := []float64{e / (2*e + 2), 1 / (2*e + 2), 1 / (2*e + 2), e / (2*e + 2)}
	for i, w := range want {
		if math.Abs(s.Scores[i]-w) > 1e-15 {
			t.Errorf("p[%d] = %v, want %v", i, s.Scores[i], w)
		}
	}
	if s.NumRelevant != 2 || !s.AnswerMatch[0] || s.AnswerMatch[1] {
		t.Errorf("NumRelevant %d, AnswerMatch %v", s.NumRelevant, s.AnswerMatch)
	}
	id := tch.Identity()
	if id.Method != "answer-match" || id.ScoreTransform != "indicator" || id.Temperature != 0.1 || s.TeacherKey != id.Key() {
		t.Errorf("identity %+v key %s", id, s.TeacherKey)
	}
	if s.ID != "q1" || s.PassageIDs[3] != "d" || s.RetrieverScores[1] != 9 || s.Retriever.Method != "bm25" {
		t.Errorf("record fields: %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("record invalid: %v", err)
	}
}

func TestNoRelevantIsUniform(t *testing.T) {
	tch, _ := New(Options{Temperature: 1})
	s, err := tch.Teach(t.Context(), cands([]string{"zebra"}, "a", "b", "c", "d", "e"))
	if err != nil {
		t.Fatal(err)
	}
	if s.NumRelevant != 0 || len(s.Scores) != 5 {
		t.Fatalf("record %+v", s)
	}
	for _, p := range s.Scores {
		if math.Abs(p-0.2) > 1e-15 {
			t.Errorf("scores %v, want uniform", s.Scores)
		}
	}
}

func TestTemperature(t *testing.T) {
	tch, _ := New(Options{Temperature: 1})
	s, _ := tch.Teach(t.Context(), cands([]string{"x1"}, "x1", "y"))
	if w := math.E / (math.E + 1); math.Abs(s.Scores[0]-w) > 1e-15 {
		t.Errorf("T=1: p = %v, want %v", s.Scores[0], w)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := New(Options{Temperature: bad}); err == nil {
			t.Errorf("temperature %v accepted", bad)
		}
	}
	a, _ := New(Options{Temperature: 0.1})
	b, _ := New(Options{Temperature: 0.5})
	if a.Identity().Key() == b.Identity().Key() {
		t.Error("different temperatures share a teacher key")
	}
}

func TestNoGoldAnswersIsPermanent(t *testing.T) {
	tch, _ := New(Options{})
	for _, answers := range [][]string{nil, {}, {"", "  "}, {"the", "?!"}} {
		_, err := tch.Teach(t.Context(), cands(answers, "the passage"))
		if err == nil || !streams.IsPermanent(err) || streams.ReasonOf(err) != ReasonNoGoldAnswers {
			t.Errorf("answers %q: err %v (permanent %v, reason %q)", answers, err, streams.IsPermanent(err), streams.ReasonOf(err))
		}
	}
}

func TestEmptyCandidatesAndCancel(t *testing.T) {
	tch, _ := New(Options{})
	s, err := tch.Teach(t.Context(), cands([]string{"x"}))
	if err != nil || len(s.Scores) != 0 || s.NumRelevant != 0 {
		t.Errorf("no passages: %+v, %v", s, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tch.Teach(ctx, cands([]string{"x"}, "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
