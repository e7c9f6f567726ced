package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
)

// TestReindexSwapsWhileReadersSearch: a GloVe index is re-embedded with the Model2Vec encoder
// (64 dims) shard by shard while goroutines keep searching an already-open retriever and others
// keep opening the index afresh and searching it. No search and no open fails; afterwards the
// manifest's entry points to the new directory and new opens use the new encoder.
func TestReindexSwapsWhileReadersSearch(t *testing.T) {
	testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	m2v := filepath.Join(testenv.SharedDir(t), "models", "model2vec-bge-base-q128")
	testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors")
	dir := filepath.Join(t.TempDir(), "index")
	if code, out, errs := cli(t, "index", "--corpus", testenv.SharedFile(t, "data/qed/corpus.jsonl"), "--embedder", "glove", "--out", dir); code != 0 {
		t.Fatalf("index: %d %s %s", code, out, errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ix0, r0, err := openRetriever(ctx, "index", dir, "dense")
	if err != nil {
		t.Fatal(err)
	}
	defer ix0.Close()
	var searches, opens, failures atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 { // searches on the retriever opened before the reindex
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if ps, err := r0.Search(ctx, "who wrote the declaration of independence", 10); err != nil || len(ps) != 10 {
					fail(err)
				}
				searches.Add(1)
			}
		})
	}
	wg.Go(func() { // fresh opens during the switch
		for {
			select {
			case <-stop:
				return
			default:
			}
			ix, r, err := openRetriever(ctx, "index", dir, "dense")
			if err != nil {
				fail(err)
				continue
			}
			if ps, err := r.Search(ctx, "when did the eagles win the super bowl", 5); err != nil || len(ps) != 5 {
				fail(err)
			}
			r.(*dense.Retriever).Close()
			ix.Close()
			opens.Add(1)
		}
	})
	code, out, errs := cli(t, "reindex", "--index", dir, "--embedder", "model2vec:"+m2v, "--shard-size", "200")
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("reindex: %d %s %s", code, out, errs)
	}
	t.Logf("%s; %d searches and %d opens during the reindex, %d failures", strings.TrimSpace(out), searches.Load(), opens.Load(), failures.Load())
	if failures.Load() > 0 {
		t.Fatalf("%d reader failures, first: %v", failures.Load(), firstErr.Load())
	}
	if opens.Load() == 0 || searches.Load() == 0 {
		t.Fatalf("readers did not run during the reindex (%d searches, %d opens)", searches.Load(), opens.Load())
	}
	m, err := retrieval.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Dense) != 1 || m.Dense[0].Name != "glove" || m.Dense[0].Dim != 64 || !strings.HasPrefix(m.Dense[0].Path, "dense/glove.") {
		t.Fatalf("manifest dense entries after reindex: %+v", m.Dense)
	}
	ix, r, err := openRetriever(ctx, "index", dir, "dense")
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	dr := r.(*dense.Retriever)
	defer dr.Close()
	if dr.Embedder().Dim() != 64 || !strings.Contains(dr.Info().Version, dr.Embedder().Name()) {
		t.Fatalf("reopened retriever: %s, %d dims", dr.Info().Version, dr.Embedder().Dim())
	}
	if ps, err := dr.Search(ctx, "who wrote hamlet", 3); err != nil || len(ps) != 3 {
		t.Fatalf("search after reindex: %v %v", ps, err)
	}
}
