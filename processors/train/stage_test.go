package train_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/streamstest"
	"github.com/lsrflow/lsrflow/train"
)

// hashEmb is a deterministic toy embedder.
type hashEmb struct{}

func (hashEmb) Dim() int     { return 8 }
func (hashEmb) Name() string { return "hash8" }
func (hashEmb) Embed(_ context.Context, texts []string, _ embed.Kind) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 8)
		for j := range v {
			h := fnv.New32a()
			fmt.Fprintf(h, "%d|%s", j, t)
			v[j] = float32(h.Sum32()%1000)/500 - 1
		}
		embed.Normalize(v)
		out[i] = v
	}
	return out, nil
}

type docs struct{ n int }

func (d docs) Len() int { return d.n }
func (d docs) Doc(i int) (string, string, error) {
	return fmt.Sprintf("d%d", i), fmt.Sprintf("passage %d", i), nil
}

func scored(id string) []byte {
	rec := schemas.Scored{SchemaVersion: 1, ID: id, Query: "question " + id, TeacherKey: "k",
		Pos: []string{"passage 1", "passage 2", "passage 3"}, PassageIDs: []string{"d1", "d2", "d3"},
		Scores: []float64{0.8, 0.1, 0.1}, RetrieverScores: []float64{3, 2, 1}, TeacherScores: []float64{1, 0, 0}}
	b, _ := schemas.Encode(rec)
	return b
}

// TestTrainStagePublishesOnlyNotWorse: rounds every 10 records; scripted evaluations 0.6, 0.55,
// 0.7 against the 0.5 baseline publish v1, skip the worse candidate, publish v2. A record that
// is an evaluation question is dead-lettered (eval_leak).
func TestTrainStagePublishesOnlyNotWorse(t *testing.T) {
	ctx := context.Background()
	emb := hashEmb{}
	pass, err := train.EmbedCorpus(ctx, emb, docs{40})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(train.Config{Batch: 4, Negatives: 3}, pass, train.NewDataset())
	if err != nil {
		t.Fatal(err)
	}
	evq := []train.EvalQuery{{ID: "e1", Question: "question leaked", GoldDocIDs: []string{"d1"}}}
	ev, err := train.NewEvaluator(ctx, emb, evq, []int{1, 5}, train.ExactSearch(pass))
	if err != nil {
		t.Fatal(err)
	}
	script := []float64{0.5, 0.6, 0.55, 0.7}
	calls := 0
	dir := t.TempDir()
	p, err := ptrain.New(ctx, ptrain.Options{Trainer: tr, Embedder: emb, Evaluator: ev, Every: 10, StepsPerRound: 5,
		Dir: dir, UpdatesTopic: "updates",
		Evaluate: func(ctx context.Context, a *adapter.Linear) (map[string]float64, error) {
			v := script[min(calls, len(script)-1)]
			calls++
			return map[string]float64{"gold_recall@1": v, "gold_recall@5": v}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := streamstest.NewHarness(t)
	h.Start(streams.Stage{Name: "train", Input: "scored", Processor: p, DeadLetters: "dead", Retry: streams.Backoff{Attempts: 1}})
	for i := range 30 {
		h.Publish("scored", streams.Message{Key: fmt.Appendf(nil, "r%d", i), Value: scored(fmt.Sprintf("r%d", i))})
		if i == 12 {
			leak := schemas.Scored{}
			_ = json.Unmarshal(scored("e1"), &leak)
			leak.Query = "Question, leaked!" // same normalized text, same id
			b, _ := schemas.Encode(leak)
			h.Publish("scored", streams.Message{Key: []byte("e1"), Value: b})
		}
	}
	h.WaitFor("updates", 2, 20*time.Second)
	dead := h.WaitFor("dead", 1, 10*time.Second)
	var dl schemas.DeadLetter
	if err := json.Unmarshal(dead[0].Value, &dl); err != nil || dl.Reason != ptrain.ReasonEvalLeak {
		t.Fatalf("dead letter %+v (%v), want reason %s", dl, err, ptrain.ReasonEvalLeak)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.Rounds()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	rounds := p.Rounds()
	if len(rounds) != 3 || !rounds[0].Published || rounds[1].Published || !rounds[2].Published {
		t.Fatalf("rounds %+v", rounds)
	}
	time.Sleep(20 * time.Millisecond)
	ups := h.Messages("updates")
	if len(ups) != 2 {
		t.Fatalf("%d updates, want 2", len(ups))
	}
	for i, m := range ups {
		u, err := ptrain.DecodeUpdate(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if u.Version != i+1 || u.BaseEmbedder != "hash8" {
			t.Errorf("update %d: %+v", i, u)
		}
		a, err := adapter.Load(u.Path)
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{0.6, 0.7}[i]
		if a.Meta.Version != i+1 || math.Abs(a.Meta.Metrics["gold_recall@1"]-want) > 1e-12 || a.Meta.Baseline["gold_recall@1"] != 0.5 ||
			a.Meta.Records == 0 || len(a.Meta.TrainIDs) == 0 || a.Meta.DataDigest == "" {
			t.Errorf("checkpoint v%d metadata %+v", i+1, a.Meta)
		}
		for _, id := range a.Meta.TrainIDs {
			if id == "e1" {
				t.Error("the leaked evaluation question was trained on")
			}
		}
	}
	if _, err := os.Stat(rounds[1].Path); rounds[1].Path != "" || err == nil {
		t.Errorf("the worse candidate left a checkpoint: %q", rounds[1].Path)
	}
	if p.Version() != 2 {
		t.Errorf("version %d", p.Version())
	}
}
