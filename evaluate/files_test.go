package evaluate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEvalPredictionsFile(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"q1","pred":"The Eiffel Tower","golden_answers":["Eiffel Tower"]}`,
		`{"id":2,"pred":"yes","golden_answers":["no"],"question":"Is it?"}`,
		`not json`,
		`{"id":"q3","golden_answers":["x"]}`,
		``,
		`[1,2]`,
		`{"id":"q4","pred":"Barack Obama Jr","golden_answers":"Barack Hussein Obama"}`,
		`{"id":"q5","pred":"x","golden_answers":[1]}`,
		"\xff\xfe",
	}, "\n")
	var out bytes.Buffer
	agg, err := EvalPredictions(t.Context(), strings.NewReader(in), &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if agg.N != 3 || agg.Bad != 5 {
		t.Fatalf("n=%d bad=%d (%+v)", agg.N, agg.Bad, agg.BadLines)
	}
	if agg.Metrics["em"] != 1.0/3 || agg.Metrics["acc"] != 1.0/3 {
		t.Errorf("metrics %v", agg.Metrics)
	}
	if f1 := agg.Metrics["f1"]; f1 < (1+2.0/3)/3-1e-12 || f1 > (1+2.0/3)/3+1e-12 {
		t.Errorf("f1 %v", f1)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || lines[0] != `{"id":"q1","em":1,"f1":1,"acc":1}` || !strings.HasPrefix(lines[1], `{"id":"2",`) {
		t.Errorf("per-line output:\n%s", out.String())
	}
	b, _ := json.Marshal(agg)
	if !strings.HasPrefix(string(b), `{"kind":"qa","n":3,"bad_lines":5,"train_overlap":0,"em":0.3333333333,"f1":`) {
		t.Errorf("aggregate json %s", b)
	}
	var back Aggregate
	if err := json.Unmarshal(b, &back); err != nil || back.N != 3 || back.Metrics["acc"] == 0 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestEvalRetrievalFile(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"a","question":"Where is the tower?","golden_answers":["Paris"],"gold_doc_ids":["d2","d9"],"docs":[{"id":"d1","contents":"Rome\nnothing","score":3},{"id":"d2","contents":"Paris\nthe tower","score":2}]}`,
		`{"id":"b","question":"q","golden_answers":["Berlin"],"docs":[{"id":"d3","contents":"Berlin","score":1}]}`,
		`{"schema_version":1,"query":{"id":"c","question":"q c","golden_answers":["x"]},"docs":[],"retriever":{"method":"bm25"}}`,
		`{"id":"d","question":"no docs field","golden_answers":["x"]}`,
	}, "\n")
	var out bytes.Buffer
	agg, err := EvalRetrieval(t.Context(), strings.NewReader(in), &out, []int{1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if agg.N != 3 || agg.Bad != 1 || agg.NGold != 1 {
		t.Fatalf("agg %+v", agg)
	}
	want := map[string]float64{"recall@1": 1.0 / 3, "recall@2": 2.0 / 3, "mrr": 0.5, "gold_recall@1": 0, "gold_recall@2": 0.5, "gold_mrr": 0.5}
	for k, v := range want {
		if g := agg.Metrics[k]; g < v-1e-12 || g > v+1e-12 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	first := strings.SplitN(out.String(), "\n", 2)[0]
	if first != `{"id":"a","recall@1":0,"recall@2":1,"gold_recall@1":0,"gold_recall@2":0.5,"gold_rr":0.5,"rr":0.5}` {
		t.Errorf("first line %s", first)
	}
}

func TestTrainSetOverlap(t *testing.T) {
	ts := NewTrainSet()
	train := `{"id":"t1","query":"Who wrote Hamlet?","pos":["x"],"scores":[1]}
{"id":"t2","question":"  WHERE is the  Eiffel tower"}
{"query":{"id":"t3","question":"cand q"},"docs":[]}
garbage`
	n, err := ts.Add(strings.NewReader(train))
	if err != nil || n != 3 {
		t.Fatalf("Add = %d, %v", n, err)
	}
	preds := `{"id":"e1","question":"who wrote hamlet","pred":"x","golden_answers":["x"]}
{"id":"t2","pred":"x","golden_answers":["x"]}
{"id":"e3","question":"Where is Eiffel tower?","pred":"x","golden_answers":["x"]}
{"id":"e4","question":"fresh","pred":"x","golden_answers":["x"]}`
	agg, err := EvalPredictions(t.Context(), strings.NewReader(preds), nil, ts)
	if err != nil || agg.Overlap != 3 {
		t.Fatalf("overlap %d, %v", agg.Overlap, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorStops(t *testing.T) {
	_, err := EvalPredictions(t.Context(), strings.NewReader(`{"id":"a","pred":"x","golden_answers":["x"]}`), failWriter{}, nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecodeRetrievalLine(f *testing.F) {
	f.Add([]byte(`{"id":"a","question":"q","golden_answers":["x"],"docs":[{"id":"1","contents":"x"}]}`))
	f.Add([]byte(`{"query":{"id":"c","question":"q"},"docs":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeRetrievalLine(b)
		if err == nil {
			ScoreRetrieval(l, []int{1, 5})
		}
	})
}
