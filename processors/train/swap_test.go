package train_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/processors/retrieve"
	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/streamstest"
	"github.com/lsrflow/lsrflow/train"
)

// qedDense builds a BM25 + GloVe Flat index over qed/corpus in a temp dir and opens its
// dense retriever.
func qedDense(t *testing.T) (*retrieval.Index, *dense.Retriever) {
	t.Helper()
	glove := testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	dir := filepath.Join(t.TempDir(), "index")
	step, err := dense.NewStep(dense.StepOptions{Embedder: "glove:" + glove})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := bm25.NewStep(bm25.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := retrieval.Build(ctx, retrieval.BuildOptions{Corpus: testenv.SharedFile(t, "data/qed/corpus.jsonl"), Dir: dir, Steps: []retrieval.BuildStep{bs, step}}); err != nil {
		t.Fatal(err)
	}
	ix, err := retrieval.OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dense.Open(ctx, ix, dense.OpenOptions{GloveVectors: glove})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); ix.Close() })
	return ix, r
}

func perturbed(t *testing.T, d, version int, emb string, seed uint64) *adapter.Linear {
	return perturbedServing(t, d, version, emb, seed, adapter.Serving{})
}

func perturbedServing(t *testing.T, d, version int, emb string, seed uint64, sv adapter.Serving) *adapter.Linear {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := make([]float64, d*d)
	for i := range w {
		w[i] = 0.3 * rng.NormFloat64() / float64(d)
	}
	for i := range d {
		w[i*d+i]++
	}
	a, err := adapter.NewLinear(d, w, adapter.Metadata{Version: version, BaseEmbedder: emb, Serving: sv})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestHotSwapKeepsEveryQueryExactlyOnce: the retrieve stage runs on the memory transport while
// queries flow; the follower swaps in adapter v1 and then v2 from the updates topic. Every query
// yields exactly one candidate set, stamped with the base retriever, v1 or v2, and versions
// never go backwards within a partition.
func TestHotSwapKeepsEveryQueryExactlyOnce(t *testing.T) {
	_, base := qedDense(t)
	h := streamstest.NewHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	topics := pipeline.DefaultTopics("swap")
	updates := "swap.retriever-updates"
	const parts = 3
	if err := h.Transport.EnsureTopics(ctx,
		streams.TopicSpec{Name: topics.Queries, Partitions: parts}, streams.TopicSpec{Name: topics.Candidates, Partitions: parts},
		streams.TopicSpec{Name: updates, Partitions: 1, Compacted: true}); err != nil {
		t.Fatal(err)
	}
	// Concurrency 1: with several workers a query fetched earlier may start later, so only
	// per-query consistency (not per-partition order) would hold.
	st, err := pipeline.BuildStage(pipeline.StageRetrieve, pipeline.StageDeps{Topics: topics, Retriever: base, TopK: 5,
		Concurrency: map[string]int{pipeline.StageRetrieve: 1}})
	if err != nil {
		t.Fatal(err)
	}
	rp := st.Processor.(*retrieve.Processor)
	h.Start(st)
	f := &ptrain.Follower{Sub: h.Transport, Topic: updates, Group: "retrieve-follower-test", Base: base, Target: rp}
	go func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("follower: %v", err)
		}
	}()

	d := base.Embedder().Dim()
	name := base.Embedder().Name()
	ckdir := t.TempDir()
	publishVersion := func(v int) {
		a := perturbed(t, d, v, name, uint64(v))
		msg, err := ptrain.PublishCheckpoint(a, filepath.Join(ckdir, fmt.Sprintf("v%d.safetensors", v)), updates, nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		h.Publish(updates, msg)
	}
	qs, _, err := train.ReadEvalQueries(testenv.SharedFile(t, "data/qed/test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		q := qs[i%len(qs)]
		b, _ := schemas.Encode(schemas.Query{SchemaVersion: 1, ID: fmt.Sprintf("q%04d", i), Question: q.Question})
		h.Publish(topics.Queries, streams.Message{Key: fmt.Appendf(nil, "q%04d", i), Value: b})
		switch i {
		case 100:
			publishVersion(1)
		case 200:
			publishVersion(2)
			// let v2 land so that the tail of the stream runs on it
			deadline := time.Now().Add(10 * time.Second)
			for f.Version() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // keep queries in flight across the swaps
		}
	}
	h.WaitFor(topics.Candidates, n, 30*time.Second)
	time.Sleep(50 * time.Millisecond) // a duplicate would show up now
	msgs := h.Messages(topics.Candidates)
	if len(msgs) != n {
		t.Fatalf("%d candidate sets for %d queries", len(msgs), n)
	}
	seen := map[string]int{}
	last := map[int]int{}
	count := map[int]int{}
	for _, m := range msgs {
		c, err := schemas.DecodeCandidates(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[c.Query.ID]++
		v, ok := adapter.ParseVersion(c.Retriever.Version)
		if !ok {
			t.Fatalf("query %s: unparseable retriever version %q", c.Query.ID, c.Retriever.Version)
		}
		count[v]++
		if v < last[m.Partition] {
			t.Errorf("partition %d offset %d: version %d after %d", m.Partition, m.Offset, v, last[m.Partition])
		}
		last[m.Partition] = v
		if len(c.Docs) != 5 {
			t.Errorf("query %s: %d docs", c.Query.ID, len(c.Docs))
		}
	}
	for i := range n {
		if id := fmt.Sprintf("q%04d", i); seen[id] != 1 {
			t.Errorf("query %s has %d candidate sets", id, seen[id])
		}
	}
	t.Logf("candidate sets by adapter version: %v", count)
	if count[2] == 0 || count[0] == 0 {
		t.Errorf("want candidate sets from the base retriever and from v2, got %v", count)
	}
	if f.Version() != 2 {
		t.Errorf("follower at version %d, want 2", f.Version())
	}
	// a stale or repeated update is ignored
	if ok, err := f.Apply(ptrain.Update{SchemaVersion: 1, Version: 1}); ok || err != nil {
		t.Errorf("stale update: swapped %v, err %v", ok, err)
	}
}

// TestFollowerSwapsTheDenseSideOfAHybrid: a retrieve stage serving BM25 + dense swaps in
// checkpoints trained for the hybrid: each update's adapter serves as the dense side, fused as
// its checkpoint says (linear fusion with its lexical weight), and the candidates are ranked
// exactly as a hybrid built by hand from the same parts. A stale version is refused.
func TestFollowerSwapsTheDenseSideOfAHybrid(t *testing.T) {
	ix, base := qedDense(t)
	lex, err := bm25.Open(t.Context(), ix)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hybrid.New(lex, base, hybrid.Options{Fusion: hybrid.Sum})
	if err != nil {
		t.Fatal(err)
	}
	rp := retrieve.New(h, 10)
	f := &ptrain.Follower{Base: base, Lexical: lex, Hybrid: h.Options(), Target: rp}
	d, name := base.Embedder().Dim(), base.Embedder().Name()
	dir := t.TempDir()
	q := schemas.Query{SchemaVersion: 1, ID: "q1", Question: "who wrote the declaration of independence"}
	qb, _ := schemas.Encode(q)
	for _, v := range []int{1, 2} {
		sv := adapter.Serving{Method: "hybrid", Fusion: "linear", LexicalWeight: 0.1 * float64(v+1), DenseWeight: 1}
		a := perturbedServing(t, d, v, name, uint64(v), sv)
		msg, err := ptrain.PublishCheckpoint(a, filepath.Join(dir, fmt.Sprintf("v%d.safetensors", v)), "updates", nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ptrain.DecodeUpdate(msg.Value)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := f.Apply(u); !ok || err != nil {
			t.Fatalf("v%d: swapped %v, %v", v, ok, err)
		}
		outs, err := rp.Process(t.Context(), streams.Message{Key: []byte("q1"), Value: qb})
		if err != nil {
			t.Fatal(err)
		}
		c, err := schemas.DecodeCandidates(outs[0].Value)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := adapter.ParseVersion(c.Retriever.Version); !ok || got != v || c.Retriever.Method != "hybrid" || rp.Version() != v {
			t.Fatalf("v%d: candidates from %+v (processor at v%d)", v, c.Retriever, rp.Version())
		}
		// the same ranking as a hybrid assembled by hand from the checkpoint's settings
		ar, err := adapter.NewRetriever(base, a)
		if err != nil {
			t.Fatal(err)
		}
		want, err := hybrid.New(lex, ar, hybrid.Options{Fusion: hybrid.Linear, LexicalWeight: sv.LexicalWeight, DenseWeight: 1})
		if err != nil {
			t.Fatal(err)
		}
		wp, err := want.Search(t.Context(), q.Question, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := range wp {
			if wp[i].ID != c.Docs[i].ID || wp[i].Score != c.Docs[i].Score {
				t.Fatalf("v%d rank %d: served %s %v, by hand %s %v", v, i, c.Docs[i].ID, c.Docs[i].Score, wp[i].ID, wp[i].Score)
			}
		}
	}
	if ok, err := f.Apply(ptrain.Update{SchemaVersion: 1, Version: 1}); ok || err != nil {
		t.Errorf("stale update: swapped %v, err %v", ok, err)
	}
}
