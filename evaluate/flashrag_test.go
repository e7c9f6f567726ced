package evaluate

import (
	"strings"
	"testing"
)

// The aggregates carry FlashRAG's metric names beside lsrflow's: retrieval_recall_top{k}
// (= recall@k) and retrieval_precision_top{k}; precision and recall for predictions.
func TestFlashRAGMetricNames(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"a","question":"q","golden_answers":["Paris"],"docs":[{"id":"1","contents":"Rome\nno","score":2},{"id":"2","contents":"Paris\nyes","score":1},{"id":"3","contents":"paris again","score":0}]}`,
		`{"id":"b","question":"q","golden_answers":["Oslo"],"docs":[{"id":"4","contents":"Oslo","score":1}]}`,
		// multiple choice: golden_answers index the choices
		`{"id":"c","question":"q","choices":["Bern","Lima"],"golden_answers":[1],"docs":[{"id":"5","contents":"Lima\nPeru","score":1}]}`,
	}, "\n")
	agg, err := EvalRetrieval(t.Context(), strings.NewReader(in), nil, []int{1, 2}, nil)
	if err != nil || agg.N != 3 {
		t.Fatalf("%v n=%d bad=%v", err, agg.N, agg.BadLines)
	}
	for k, want := range map[string]float64{
		"recall@1": 2.0 / 3, "retrieval_recall_top1": 2.0 / 3, "recall@2": 1, "retrieval_recall_top2": 1,
		"retrieval_precision_top1": 2.0 / 3, "retrieval_precision_top2": (0.5 + 1 + 1) / 3,
	} {
		if got := agg.Metrics[k]; got < want-1e-12 || got > want+1e-12 {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	preds := `{"id":"p1","pred":"Lima","choices":["Bern","Lima"],"golden_answers":[1]}
{"id":"p2","pred":"the big red house","golden_answers":["red house today"]}`
	qa, err := EvalPredictions(t.Context(), strings.NewReader(preds), nil, nil)
	if err != nil || qa.N != 2 {
		t.Fatalf("%v %+v", err, qa)
	}
	// p2: common {red, house}: precision 2/3, recall 2/3
	near := func(a, b float64) bool { return a > b-1e-12 && a < b+1e-12 }
	if qa.Metrics["em"] != 0.5 || !near(qa.Metrics["precision"], (1+2.0/3)/2) || !near(qa.Metrics["recall"], (1+2.0/3)/2) {
		t.Errorf("qa metrics %v", qa.Metrics)
	}
}

func TestCuratedTRECRegexAnswers(t *testing.T) {
	preds := `{"id":"1","pred":"Gary  Player","golden_answers":["Gary\\s+Player"]}
{"id":"2","pred":"it was 1,500 people","golden_answers":["1,?5,?0,?0"]}
{"id":"3","pred":"x","golden_answers":["(a)\\1"]}`
	qa, err := EvalPredictionsWith(t.Context(), strings.NewReader(preds), nil, nil, EvalOptions{Regex: true})
	if err != nil {
		t.Fatal(err)
	}
	// 1: fullmatch; 2: search only; 3: a pattern RE2 cannot run is a bad line
	if qa.N != 2 || qa.Bad != 1 || qa.Metrics["em"] != 0.5 || qa.Metrics["acc"] != 1 {
		t.Errorf("n %d bad %d metrics %v", qa.N, qa.Bad, qa.Metrics)
	}
	plain, _ := EvalPredictions(t.Context(), strings.NewReader(preds), nil, nil)
	if plain.Metrics["em"] != 0 {
		t.Errorf("without regex the patterns are plain text: em %v", plain.Metrics["em"])
	}
}
