package flagembed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
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

// rec is a scored record with the given teacher distribution over distinct passages.
func rec(id string, probs []float64) schemas.Scored {
	s := schemas.Scored{ID: id, Query: "question " + id, Scores: probs, GoldenAnswers: []string{"answer of " + id}}
	for i := range probs {
		s.Pos = append(s.Pos, fmt.Sprintf("passage %d of %s", i, id))
	}
	return s
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

// The llm-embedder export passes a mirror of LLM-Embedder's training loader
// (testdata/llm_embedder_loader.py, from research/llm_embedder/src/retrieval/data.py): one
// column schema, the task from the first line, one teacher score per passage, a first
// positive, negatives; and the group the loader forms keeps the teacher's distribution, since
// it softmaxes the scores (softmax of log-probabilities of a subset is the renormalized
// subset).
func TestLLMEmbedderExportPassesTheLoader(t *testing.T) {
	var buf bytes.Buffer
	exp, err := NewExporter(&buf, FormatLLMEmbedder, Split{Mode: SplitTop, N: 1}, ScoreLogProb, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs := []schemas.Scored{
		rec("q1", []float64{0.5, 0.2, 0.1, 0.1, 0.05, 0.05}),
		rec("q2", []float64{0.1, 0.7, 0.2}),
		rec("q3", []float64{0.9, 0.1}),               // one negative: repeated to fill the group
		rec("q4", []float64{0.25, 0.25, 0.25, 0.25}), // flat: no positive, skipped
	}
	recs[1].GoldenAnswers = nil
	for _, r := range recs {
		if err := exp.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if st := exp.Stats(); st.Written != 3 || st.Skipped[SkipNoPositive] != 1 {
		t.Fatalf("stats %+v", st)
	}
	path := filepath.Join(t.TempDir(), "train.json")
	os.WriteFile(path, buf.Bytes(), 0o644)
	out, err := exec.CommandContext(t.Context(), "/usr/bin/python3", "testdata/llm_embedder_loader.py", path).CombinedOutput()
	if err != nil {
		t.Fatalf("the loader mirror rejects the export: %v\n%s\n%s", err, out, buf.String())
	}
	var got struct {
		Task    string   `json:"task"`
		Columns []string `json:"columns"`
		Dropped int      `json:"dropped"`
		Kept    []struct {
			Query         string    `json:"query"`
			Key           []string  `json:"key"`
			TeacherScores []float64 `json:"teacher_scores"`
		} `json:"kept"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Task != "qa" || got.Dropped != 0 || len(got.Kept) != 3 || strings.Join(got.Columns, ",") != "answers,neg,pos,query,task,teacher_scores" {
		t.Fatalf("loader: %+v", got)
	}
	for i, k := range got.Kept {
		src := recs[i]
		prob := map[string]float64{}
		for j, p := range src.Pos {
			prob[p] = src.Scores[j]
		}
		if len(k.Key) != 8 || len(k.TeacherScores) != 8 || k.Query != src.Query {
			t.Fatalf("%s: group %+v", src.ID, k)
		}
		best := byProb(src)[0]
		if k.Key[0] != src.Pos[best] {
			t.Errorf("%s: positive %q, want the teacher's best %q", src.ID, k.Key[0], src.Pos[best])
		}
		// exp(score) is the teacher probability of that passage
		for j, key := range k.Key {
			if math.Abs(math.Exp(k.TeacherScores[j])-prob[key]) > 1e-12 {
				t.Errorf("%s key %d: exp(score) %v, teacher probability %v", src.ID, j, math.Exp(k.TeacherScores[j]), prob[key])
			}
		}
	}
	// an unknown task is refused before anything is written
	if err := exp.SetTask("summarize"); err == nil {
		t.Error("unknown task accepted")
	}
}
