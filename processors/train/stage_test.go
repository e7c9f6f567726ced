package train_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
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

// toyIndex is n passages "passage i" with ids "d<i>", embedded by hashEmb: the vector source,
// the docstore lookup and an exact inner-product dense search (the reference a FAISS Flat
// index returns).
type toyIndex struct {
	m *train.Matrix
}

func newToyIndex(n int) *toyIndex {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("passage %d", i)
	}
	vecs, _ := hashEmb{}.Embed(context.Background(), texts, embed.Passage)
	m := &train.Matrix{D: 8}
	for _, v := range vecs {
		m.Data = append(m.Data, v...)
	}
	return &toyIndex{m: m}
}

func (x *toyIndex) Len() int { return x.m.Len() }
func (x *toyIndex) Ordinal(id string) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(id, "d%d", &i); err != nil || i < 0 || i >= x.Len() {
		return 0, false
	}
	return i, true
}

func (x *toyIndex) SearchVectors(_ context.Context, vecs [][]float32, k int) ([][]schemas.Passage, error) {
	out := make([][]schemas.Passage, len(vecs))
	for q, v := range vecs {
		ps := make([]schemas.Passage, x.Len())
		for i := range ps {
			var s float64
			for j, f := range x.m.Data[i*8 : (i+1)*8] {
				s += float64(f) * float64(v[j])
			}
			ps[i] = schemas.Passage{ID: fmt.Sprintf("d%d", i), Score: s}
		}
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].Score > ps[b].Score })
		out[q] = ps[:min(k, len(ps))]
	}
	return out, nil
}

func newTrainer(t *testing.T, ix *toyIndex, window int) *train.Trainer {
	t.Helper()
	pass, err := train.NewPassages(ix.m, ix)
	if err != nil {
		t.Fatal(err)
	}
	ds := train.NewDataset(pass, hashEmb{})
	ds.Window = window
	tr, err := train.NewTrainer(train.Config{Batch: 4, Negatives: 3}, ds)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func scoredRec(id string) schemas.Scored {
	var n int
	fmt.Sscanf(strings.TrimLeft(id, "re"), "%d", &n)
	a, b, c := n%40, (n*7+3)%40, (n*13+5)%40
	if b == a {
		b = (a + 1) % 40
	}
	if c == a || c == b {
		c = (max(a, b) + 1) % 40
	}
	return schemas.Scored{SchemaVersion: 1, ID: id, Query: "question about passage " + id, TeacherKey: "k",
		Pos: []string{"p", "q", "r"}, PassageIDs: []string{fmt.Sprintf("d%d", a), fmt.Sprintf("d%d", b), fmt.Sprintf("d%d", c)},
		Scores: []float64{0.8, 0.1, 0.1}, RetrieverScores: []float64{3, 2, 1}, TeacherScores: []float64{1, 0, 0}}
}

func scored(id string) []byte {
	b, _ := schemas.Encode(scoredRec(id))
	return b
}

// TestTrainStagePublishesOnlyNotWorse: rounds every 10 records; scripted held-out checks give
// the candidates 0.6, 0.55 and 0.7 against the untrained 0.5: v1 is published, the worse
// candidate is not, v2 is. A record that is an evaluation question is dead-lettered
// (eval_leak) and never trained on.
func TestTrainStagePublishesOnlyNotWorse(t *testing.T) {
	ctx := context.Background()
	ix := newToyIndex(40)
	tr := newTrainer(t, ix, 0)
	evq := []train.EvalQuery{{ID: "e1", Question: "question leaked", GoldDocIDs: []string{"d1"}}}
	var mu sync.Mutex
	script := []float64{0.6, 0.55, 0.7}
	seen := map[string]float64{}
	evaluate := func(ctx context.Context, a *adapter.Linear) (map[string]float64, error) {
		mu.Lock()
		defer mu.Unlock()
		v := 0.5
		if a != nil {
			var ok bool
			if v, ok = seen[a.Version()]; !ok {
				v, script = script[0], script[1:]
				seen[a.Version()] = v
			}
		}
		return map[string]float64{"teacher_hit@1": v, "teacher_hit@5": v}, nil
	}
	dir := t.TempDir()
	p, err := ptrain.New(ctx, ptrain.Options{Trainer: tr, Embedder: hashEmb{}, EvalQueries: evq, Every: 10, StepsPerRound: 5,
		Dir: dir, UpdatesTopic: "updates", HoldOut: 0.001, Evaluate: evaluate})
	if err != nil {
		t.Fatal(err)
	}
	h := streamstest.NewHarness(t)
	h.Start(streams.Stage{Name: "train", Input: "scored", Processor: p, DeadLetters: "dead", Retry: streams.Backoff{Attempts: 1}})
	for i := range 30 {
		h.Publish("scored", streams.Message{Key: fmt.Appendf(nil, "r%d", i), Value: scored(fmt.Sprintf("r%d", i))})
		if i == 12 {
			leak := scoredRec("e1")
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
		if u.Version != i+1 || u.BaseEmbedder != "hash8" || u.Serving.Method != "dense" {
			t.Errorf("update %d: %+v", i, u)
		}
		a, err := adapter.Load(u.Path)
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{0.6, 0.7}[i]
		if a.Meta.Version != i+1 || math.Abs(a.Meta.Metrics["teacher_hit@1"]-want) > 1e-12 ||
			a.Meta.Records == 0 || len(a.Meta.TrainIDs) == 0 || a.Meta.DataDigest == "" {
			t.Errorf("checkpoint v%d metadata %+v", i+1, a.Meta)
		}
		if slices.Contains(a.Meta.TrainIDs, "e1") {
			t.Error("the leaked evaluation question was trained on")
		}
	}
	if _, err := os.Stat(rounds[1].Path); rounds[1].Path != "" || err == nil {
		t.Errorf("the worse candidate left a checkpoint: %q", rounds[1].Path)
	}
	if p.Version() != 2 {
		t.Errorf("version %d", p.Version())
	}
	// the rounds log holds the three rounds
	b, err := os.ReadFile(filepath.Join(dir, ptrain.RoundsFile))
	if err != nil || strings.Count(string(b), "\n") != 3 {
		t.Errorf("rounds log: %v\n%s", err, b)
	}
}
