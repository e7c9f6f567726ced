package dense

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

// BenchmarkBuildQED measures `lsrflow index` with a GloVe dense step over the QED corpus
// (docstore, SIF fit, embedding, FAISS) per index type.
func BenchmarkBuildQED(b *testing.B) {
	qedFixture(b) // fails early with the setup hint when GloVe is missing
	for _, f := range []string{"Flat", "HNSW32,Flat", "IVF16,Flat"} {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				buildIndex(context.Background(), b, filepath.Join(b.TempDir(), "ix"), StepOptions{Embedder: "glove", Factory: f})
			}
			b.ReportMetric(float64(1343*b.N)/b.Elapsed().Seconds(), "passages/s")
		})
	}
}

// BenchmarkSearchQED measures end-to-end dense retrieval (embed the question, FAISS search,
// docstore reads) one question at a time, against k, for Flat and HNSW.
func BenchmarkSearchQED(b *testing.B) {
	f := qedFixture(b)
	hnsw, err := faissx.New(f.dim, "HNSW32,Flat", faissx.InnerProduct)
	if err != nil {
		b.Fatal(err)
	}
	if err := hnsw.Build(f.docs); err != nil {
		b.Fatal(err)
	}
	hr, err := New(f.r.Embedder(), hnsw, f.ix.Docs, "hnsw")
	if err != nil {
		b.Fatal(err)
	}
	defer hr.Close()
	for _, tc := range []struct {
		name string
		r    retrieval.Retriever
	}{{"Flat", f.r}, {"HNSW32", hr}} {
		for _, k := range []int{1, 5, 20, 100} {
			b.Run(fmt.Sprintf("%s/k=%d", tc.name, k), func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := tc.r.Search(context.Background(), f.qs[i%len(f.qs)].Question, k); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			})
		}
	}
	b.Run("Flat/batch385/k=20", func(b *testing.B) {
		texts := make([]string, len(f.qs))
		for i, q := range f.qs {
			texts[i] = q.Question
		}
		for b.Loop() {
			if _, err := f.r.SearchBatch(context.Background(), texts, 20); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "queries/s")
	})
}
