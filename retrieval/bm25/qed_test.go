package bm25_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

func buildQED(tb testing.TB) (*retrieval.Index, retrieval.Retriever) {
	tb.Helper()
	corpus := testenv.SharedFile(tb, "data/qed/corpus.jsonl")
	dir := filepath.Join(tb.TempDir(), "idx")
	step, err := bm25.NewStep(bm25.DefaultParams())
	if err != nil {
		tb.Fatal(err)
	}
	st, err := retrieval.Build(context.Background(), retrieval.BuildOptions{Corpus: corpus, Dir: dir, Steps: []retrieval.BuildStep{step}})
	if err != nil {
		tb.Fatal(err)
	}
	if st.Docs != 1343 || st.BadLines != 0 {
		tb.Fatalf("QED corpus: %+v, want 1343 docs and no bad lines", st)
	}
	ix, err := retrieval.OpenIndex(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close() })
	r, err := retrieval.Openers{"bm25": bm25.Open}.Open(context.Background(), ix, "bm25")
	if err != nil {
		tb.Fatal(err)
	}
	return ix, r
}

func readQueries(tb testing.TB, rel string) []schemas.Query {
	f, err := os.Open(testenv.SharedFile(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var qs []schemas.Query
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		q, err := schemas.DecodeQuery(sc.Bytes())
		if err != nil {
			tb.Fatal(err)
		}
		qs = append(qs, q)
	}
	return qs
}

// TestQEDRecall is issue 2's measured target: BM25 over the QED corpus, gold-document recall
// on qed/test.jsonl (reference 0.818 @1, 0.961 @20).
func TestQEDRecall(t *testing.T) {
	_, r := buildQED(t)
	qs := readQueries(t, "data/qed/test.jsonl")
	if len(qs) != 385 {
		t.Fatalf("%d test queries, want 385", len(qs))
	}
	ks := []int{1, 5, 20}
	gold, answer := make([]int, len(ks)), make([]int, len(ks))
	for _, q := range qs {
		docs, err := r.Search(t.Context(), q.Question, 20)
		if err != nil {
			t.Fatal(err)
		}
		goldSet := map[string]bool{}
		for _, id := range q.GoldDocIDs {
			goldSet[id] = true
		}
		answers := textnorm.NormalizeAll(q.GoldenAnswers)
		for i, k := range ks {
			g, a := false, false
			for _, d := range docs[:min(k, len(docs))] {
				g = g || goldSet[d.ID]
				a = a || textnorm.ContainsAny(d.Contents, answers)
			}
			if g {
				gold[i]++
			}
			if a {
				answer[i]++
			}
		}
	}
	n := float64(len(qs))
	for i, k := range ks {
		t.Logf("BM25 QED test: gold@%d %.3f  answer@%d %.3f", k, float64(gold[i])/n, k, float64(answer[i])/n)
	}
	if g1, g20 := float64(gold[0])/n, float64(gold[2])/n; g1 < 0.80 || g20 < 0.95 {
		t.Errorf("gold recall @1 %.3f @20 %.3f, want >= 0.80 and >= 0.95", g1, g20)
	}
}

// BenchmarkQEDSearch measures Search throughput (retriever level: scoring plus docstore reads)
// on the QED corpus for several k.
func BenchmarkQEDSearch(b *testing.B) {
	_, r := buildQED(b)
	qs := readQueries(b, "data/qed/test.jsonl")
	for _, k := range []int{1, 5, 20, 100} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := r.Search(b.Context(), qs[i%len(qs)].Question, k); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
