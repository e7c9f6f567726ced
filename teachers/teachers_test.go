package teachers

import (
	"math"
	"math/big"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
)

// softmaxBig is an independent reference: exp in arbitrary precision, no max subtraction.
func softmaxBig(scores []float64, temp float64) []float64 {
	exps := make([]*big.Float, len(scores))
	sum := new(big.Float).SetPrec(200)
	for i, s := range scores {
		// e^(s/T) = (e^(1/64))^(64 s/T) is overkill; use math.Exp on split exponents instead.
		x := s / temp
		whole := math.Floor(x)
		e := new(big.Float).SetPrec(200).SetFloat64(math.Exp(x - whole))
		base := new(big.Float).SetPrec(200).SetFloat64(math.E)
		pow := new(big.Float).SetPrec(200).SetFloat64(1)
		n := int(math.Abs(whole))
		for range n {
			pow.Mul(pow, base)
		}
		if whole < 0 {
			e.Quo(e, pow)
		} else {
			e.Mul(e, pow)
		}
		exps[i] = e
		sum.Add(sum, e)
	}
	out := make([]float64, len(scores))
	for i, e := range exps {
		out[i], _ = new(big.Float).Quo(e, sum).Float64()
	}
	return out
}

func TestSoftmaxMatchesArbitraryPrecision(t *testing.T) {
	cases := []struct {
		scores []float64
		temp   float64
	}{
		{[]float64{1, 2, 3}, 1},
		{[]float64{-40.5, -41.25, -39.875, -60}, 0.1},
		{[]float64{-300, -302, -301.5}, 1}, // plain exp underflows; max subtraction must not
		{[]float64{0, 0, 0, 0}, 0.5},
		{[]float64{1, 0, 1, 0, 0}, 0.1},
	}
	for _, c := range cases {
		got := Softmax(c.scores, c.temp)
		want := softmaxBig(c.scores, c.temp)
		sum := 0.0
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Fatalf("Softmax(%v, %v)[%d] = %v, want %v", c.scores, c.temp, i, got[i], want[i])
			}
			sum += got[i]
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Fatalf("sum = %v", sum)
		}
	}
}

func TestSoftmaxEdges(t *testing.T) {
	if got := Softmax(nil, 1); len(got) != 0 {
		t.Fatalf("empty input gave %v", got)
	}
	inf := math.Inf(-1)
	got := Softmax([]float64{inf, 0, inf}, 1)
	if got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("-Inf entries: %v", got)
	}
	got = Softmax([]float64{inf, inf}, 1)
	if got[0] != 0.5 || got[1] != 0.5 {
		t.Fatalf("all -Inf: %v, want uniform", got)
	}
}

func TestBuildAuditsAnswerMatches(t *testing.T) {
	c := schemas.Candidates{
		SchemaVersion: 1,
		Query:         schemas.Query{SchemaVersion: 1, ID: "q1", Question: "who wrote it", GoldenAnswers: []string{"The Beatles"}},
		Docs: []schemas.Passage{
			{ID: "a", Contents: "Title\nIt was written by the BEATLES, in 1965.", Score: 3},
			{ID: "b", Contents: "Other\nNothing here.", Score: 2},
		},
		Retriever: schemas.RetrieverInfo{Method: "bm25", Version: "v1"},
	}
	id := schemas.TeacherIdentity{Method: "x", Temperature: 1}
	s := Build(c, id, []float64{-1, -2}, Softmax([]float64{-1, -2}, 1))
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.AnswerMatch[0] || s.AnswerMatch[1] || s.NumRelevant != 1 {
		t.Fatalf("answer match %v, relevant %d", s.AnswerMatch, s.NumRelevant)
	}
	if s.PassageIDs[1] != "b" || s.RetrieverScores[0] != 3 || s.TeacherKey != id.Key() || s.Retriever.Version != "v1" {
		t.Fatalf("audit fields wrong: %+v", s)
	}
}
