package flagembed

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
)

func sample() schemas.Scored {
	return schemas.Scored{
		ID: "q1", Query: "who?",
		Pos:         []string{"A", "B", "C", "D"},
		Scores:      []float64{0.1, 0.6, 0.0, 0.3},
		AnswerMatch: []bool{true, false, false, true},
	}
}

func TestParseSplit(t *testing.T) {
	good := map[string]Split{
		"top":           {Mode: SplitTop, N: 1},
		"top:2":         {Mode: SplitTop, N: 2},
		"threshold:0.2": {Mode: SplitThreshold, Threshold: 0.2},
		"answer-match":  {Mode: SplitAnswerMatch},
	}
	for in, want := range good {
		got, err := ParseSplit(in)
		if err != nil || got != want {
			t.Errorf("ParseSplit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParseSplit(got.String()); back != got {
			t.Errorf("String round trip of %q: %+v", in, back)
		}
	}
	for _, bad := range []string{"", "top:0", "top:x", "threshold", "threshold:1.5", "answer-match:1", "best"} {
		if _, err := ParseSplit(bad); err == nil {
			t.Errorf("ParseSplit(%q) accepted", bad)
		}
	}
}

func TestSplits(t *testing.T) {
	s := sample()
	cases := []struct {
		split    Split
		pos, neg []int
	}{
		{Split{Mode: SplitTop, N: 1}, []int{1}, []int{0, 2, 3}},
		{Split{Mode: SplitTop, N: 2}, []int{1, 3}, []int{0, 2}},
		{Split{Mode: SplitTop, N: 9}, []int{1, 3, 0}, []int{2}}, // zero probability is never positive
		{Split{Mode: SplitThreshold, Threshold: 0.25}, []int{1, 3}, []int{0, 2}},
		{Split{Mode: SplitAnswerMatch}, []int{3, 0}, []int{1, 2}},
		{Split{Mode: SplitAnswerMatch, MaxNeg: 1}, []int{3, 0}, []int{1}},
	}
	flat := schemas.Scored{Pos: []string{"A", "B"}, Scores: []float64{0.5, 0.5}}
	if pos, neg := (Split{Mode: SplitTop, N: 1}).Apply(flat); len(pos) != 0 || len(neg) != 2 {
		t.Errorf("flat distribution: pos %v neg %v, want no positive", pos, neg)
	}
	for _, c := range cases {
		pos, neg := c.split.Apply(s)
		if !reflect.DeepEqual(pos, c.pos) || !reflect.DeepEqual(neg, c.neg) {
			t.Errorf("%v: pos %v neg %v, want %v %v", c.split, pos, neg, c.pos, c.neg)
		}
	}
}

func TestFlagEmbeddingLine(t *testing.T) {
	var buf bytes.Buffer
	e, err := NewExporter(&buf, FormatFlagEmbedding, Split{Mode: SplitTop, N: 1}, ScoreProb, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(sample()); err != nil {
		t.Fatal(err)
	}
	want := `{"query":"who?","pos":["B"],"neg":["A","C","D"],"pos_scores":[0.6],"neg_scores":[0.1,0,0.3]}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	// no positive: skipped and counted
	noPos := sample()
	noPos.AnswerMatch = []bool{false, false, false, false}
	e2, _ := NewExporter(&buf, FormatFlagEmbedding, Split{Mode: SplitAnswerMatch}, ScoreProb, 0)
	_ = e2.Write(noPos)
	if st := e2.Stats(); st.Written != 0 || st.Skipped[SkipNoPositive] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLogProbRecoversDistribution: the trainer applies softmax to the scores it reads; with
// log-probabilities that softmax gives back the teacher distribution over pos+neg.
func TestLogProbRecoversDistribution(t *testing.T) {
	r, skip := ToFlag(sample(), Split{Mode: SplitTop, N: 1}, ScoreLogProb)
	if skip != "" {
		t.Fatal(skip)
	}
	all := append(append([]float64{}, r.PosScores...), r.NegScores...)
	z := 0.0
	for _, v := range all {
		z += math.Exp(v)
	}
	want := []float64{0.6, 0.1, 0, 0.3}
	for i, v := range all {
		if got := math.Exp(v) / z; math.Abs(got-want[i]) > 1e-9 {
			t.Fatalf("softmax[%d] = %v, want %v", i, got, want[i])
		}
	}
}

func TestSentenceTransformersRow(t *testing.T) {
	var buf bytes.Buffer
	e, err := NewExporter(&buf, FormatSentenceTransformers, Split{Mode: SplitAnswerMatch}, ScoreProb, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(sample()); err != nil {
		t.Fatal(err)
	}
	want := `{"query":"who?","pos":"D","neg_1":"B","neg_2":"C","label":[0.3,0.6,0]}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	e3, _ := NewExporter(&buf, FormatSentenceTransformers, Split{Mode: SplitAnswerMatch}, ScoreProb, 3)
	_ = e3.Write(sample())
	if st := e3.Stats(); st.Skipped[SkipNoNegative] != 1 {
		t.Fatalf("want a too-few-negatives skip, got %+v", st)
	}
	if _, err := NewExporter(&buf, "csv", Split{}, ScoreProb, 1); err == nil {
		t.Fatal("unknown format accepted")
	}
}
