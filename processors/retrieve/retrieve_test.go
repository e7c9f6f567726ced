package retrieve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// listRetriever returns its passages for any question; version names it.
type listRetriever struct {
	version string
	docs    []schemas.Passage
	err     error
}

func (l *listRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	return l.docs[:min(k, len(l.docs))], l.err
}
func (l *listRetriever) Info() schemas.RetrieverInfo {
	return schemas.RetrieverInfo{Method: "list", Version: l.version}
}

// infoRetriever reports a version through SearchInfo that differs from Info, as a retriever
// whose adapter was swapped between the two calls would.
type infoRetriever struct{ listRetriever }

func (r *infoRetriever) SearchInfo(ctx context.Context, qs []string, k int) ([][]schemas.Passage, schemas.RetrieverInfo, error) {
	return [][]schemas.Passage{r.docs[:k]}, schemas.RetrieverInfo{Method: "list", Version: "from-search"}, nil
}

func query(t *testing.T, id string) streams.Message {
	b, _ := json.Marshal(map[string]any{"id": id, "question": "q " + id, "golden_answers": []string{"a"}})
	return streams.Message{Key: []byte(id), Value: b}
}

func decode(t *testing.T, outs []streams.Message) schemas.Candidates {
	t.Helper()
	if len(outs) != 1 {
		t.Fatalf("%d outputs, want 1", len(outs))
	}
	c, err := schemas.DecodeCandidates(outs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetrieveStampsVersionAndSwaps(t *testing.T) {
	docs := []schemas.Passage{{ID: "1", Contents: "a"}, {ID: "2", Contents: "b"}, {ID: "3", Contents: "c"}}
	p := New(&listRetriever{version: "v1", docs: docs}, 2)
	outs, err := p.Process(t.Context(), query(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	c := decode(t, outs)
	if string(outs[0].Key) != "x" || len(c.Docs) != 2 || c.Retriever.Version != "v1" || c.Query.GoldenAnswers[0] != "a" {
		t.Fatalf("candidates %+v", c)
	}
	p.Swap(&listRetriever{version: "v2", docs: docs})
	if c := decode(t, must(p.Process(t.Context(), query(t, "y")))); c.Retriever.Version != "v2" {
		t.Fatalf("after swap version %q", c.Retriever.Version)
	}
	p.Swap(&infoRetriever{listRetriever{version: "from-info", docs: docs}})
	if c := decode(t, must(p.Process(t.Context(), query(t, "z")))); c.Retriever.Version != "from-search" {
		t.Fatalf("version %q: want the one SearchInfo reported", c.Retriever.Version)
	}
}

func must(o []streams.Message, err error) []streams.Message {
	if err != nil {
		panic(err)
	}
	return o
}

func TestRetrieveErrors(t *testing.T) {
	p := New(&listRetriever{version: "v", err: errors.New("index busy")}, 2)
	if _, err := p.Process(t.Context(), query(t, "x")); err == nil || streams.IsPermanent(err) {
		t.Fatalf("retriever failure must be retriable, got %v", err)
	}
	_, err := p.Process(t.Context(), streams.Message{Value: []byte(`{"id":"x"}`)})
	if !streams.IsPermanent(err) || streams.ReasonOf(err) != schemas.ReasonMissingQuestion {
		t.Fatalf("bad query: %v (reason %q)", err, streams.ReasonOf(err))
	}
}

// TestSwapIfNewerNeverGoesBack: eight goroutines swap versions 1..64 in shuffled orders while
// eight others retrieve. The version in use never decreases, ends at the newest, each
// query runs on a version at least as new as the one in use when it started, and a stale
// swap is refused.
func TestSwapIfNewerNeverGoesBack(t *testing.T) {
	docs := []schemas.Passage{{ID: "1", Contents: "a"}}
	ver := func(v int) *listRetriever {
		return &listRetriever{version: fmt.Sprintf("glove@Flat+adapter:v%d-%08x", v, v), docs: docs}
	}
	p := New(ver(0), 1)
	const n = 64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var problems []string
	report := func(f string, a ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range rand.New(rand.NewPCG(uint64(g), 3)).Perm(n) {
				p.SwapIfNewer(ver(v+1), v+1)
			}
		}()
	}
	var readers sync.WaitGroup
	for g := range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				before := p.Version()
				if before < last {
					report("version went from %d back to %d", last, before)
				}
				last = before
				c := decode(t, must(p.Process(t.Context(), query(t, fmt.Sprintf("q%d-%d", g, i)))))
				got, ok := adapter.ParseVersion(c.Retriever.Version)
				if !ok || got < before {
					report("query ran on %q, older than v%d in use when it started", c.Retriever.Version, before)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for _, s := range problems {
		t.Error(s)
	}
	if p.Version() != n {
		t.Fatalf("version in use %d, want %d", p.Version(), n)
	}
	if p.SwapIfNewer(ver(3), 3) || p.Version() != n {
		t.Fatal("a stale version was applied")
	}
}

// batchRetriever answers each question with passages named after it and the retriever's
// version, records its batch sizes and takes a millisecond per call.
type batchRetriever struct {
	version string
	mu      sync.Mutex
	sizes   []int
	err     error
}

func (b *batchRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	res, err := b.SearchBatch(ctx, []string{q}, k)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

func (b *batchRetriever) SearchBatch(ctx context.Context, qs []string, k int) ([][]schemas.Passage, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(qs))
	b.mu.Unlock()
	time.Sleep(time.Millisecond)
	if b.err != nil {
		return nil, b.err
	}
	out := make([][]schemas.Passage, len(qs))
	for i, q := range qs {
		for j := range k {
			out[i] = append(out[i], schemas.Passage{ID: fmt.Sprintf("%s/%s/%d", b.version, q, j)})
		}
	}
	return out, nil
}

func (b *batchRetriever) Info() schemas.RetrieverInfo {
	return schemas.RetrieverInfo{Method: "batch", Version: b.version}
}

// Queries in flight together share search calls of at most MaxBatch; every query gets its own
// passages and the version that produced them; bad input and a lone query do not wait.
func TestMicroBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &batchRetriever{version: "v1"}
		p := New(r, 3)
		if p.batch == nil || p.batch.cfg.MaxBatch != DefaultMaxBatch {
			t.Fatalf("a BatchRetriever is not batched by default: %+v", p.batch)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n+1)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprint(i)
				c, err := schemas.DecodeCandidates(must(p.Process(t.Context(), query(t, id)))[0].Value)
				if err != nil {
					errs <- err
					return
				}
				if c.Query.ID != id || len(c.Docs) != 3 || c.Docs[2].ID != "v1/q "+id+"/2" || c.Retriever.Version != "v1" {
					errs <- fmt.Errorf("query %s got %+v", id, c)
				}
			})
		}
		wg.Go(func() { // bad input in the middle of batches
			if _, err := p.Process(t.Context(), streams.Message{Value: []byte(`{"id":"bad"}`)}); !streams.IsPermanent(err) {
				errs <- fmt.Errorf("bad query: %v", err)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		total := 0
		for _, s := range r.sizes {
			if s > DefaultMaxBatch {
				t.Errorf("batch of %d > %d", s, DefaultMaxBatch)
			}
			total += s
		}
		// The first queries may go alone (nobody else had arrived yet); the rest share calls.
		if total != n || len(r.sizes) > n/4 || !slices.Contains(r.sizes, DefaultMaxBatch) {
			t.Errorf("%d queries in %d calls %v, want %d in at most %d, some full", total, len(r.sizes), r.sizes, n, n/4)
		}

		// A lone query is searched at once, whatever the latency budget.
		lone := NewBatching(r, 1, Batching{MaxBatch: 8, MaxWait: time.Hour})
		start := time.Now()
		must(lone.Process(t.Context(), query(t, "alone")))
		if d := time.Since(start); d > time.Second {
			t.Errorf("a lone query waited %v", d)
		}

		// A failed batch search fails every query in it, retriably.
		r.err = errors.New("index busy")
		for range 3 {
			wg.Go(func() {
				if _, err := p.Process(t.Context(), query(t, "x")); err == nil || streams.IsPermanent(err) {
					t.Errorf("failed search: %v", err)
				}
			})
		}
		wg.Wait()
	})
}
