package faissx

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Synthetic benchmark corpus: 20,000 unit vectors of dimension 100 (GloVe's), 64 queries.
const benchN, benchDim, benchQ = 20000, 100, 64

func benchData() (data, queries []float32) {
	rng := rand.New(rand.NewPCG(11, 12))
	return clustered(rng, benchN, benchDim, 1), clustered(rng, benchQ, benchDim, 1)
}

// BenchmarkFlatVsExact compares a FAISS Flat batch search with the pure-Go float64 scan
// (ExactSearch) on the same queries; it fails if their top-20 ids differ.
func BenchmarkFlatVsExact(b *testing.B) {
	data, queries := benchData()
	x := build(b, data, benchDim, "Flat", InnerProduct)
	want, err := ExactSearch(data, benchDim, queries, 20, InnerProduct)
	if err != nil {
		b.Fatal(err)
	}
	got, err := x.Search(queries, 20)
	if err != nil {
		b.Fatal(err)
	}
	for q := range want {
		if !sameIDs(got[q], want[q]) {
			b.Fatalf("query %d: faiss %v, exact %v", q, ids(got[q]), ids(want[q]))
		}
	}
	b.Run("faiss-flat", func(b *testing.B) {
		for b.Loop() {
			if _, err := x.Search(queries, 20); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchQ*b.N)/b.Elapsed().Seconds(), "queries/s")
	})
	b.Run("go-exact", func(b *testing.B) {
		for b.Loop() {
			if _, err := ExactSearch(data, benchDim, queries, 20, InnerProduct); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchQ*b.N)/b.Elapsed().Seconds(), "queries/s")
	})
}

// BenchmarkBuild measures train + add of the whole corpus per index type.
func BenchmarkBuild(b *testing.B) {
	data, _ := benchData()
	for _, f := range []string{"Flat", "HNSW32,Flat", "IVF64,Flat", "IVF64,SQ8"} {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				x, err := New(benchDim, f, InnerProduct)
				if err != nil {
					b.Fatal(err)
				}
				if err := x.Build(data); err != nil {
					b.Fatal(err)
				}
				x.Close()
			}
			b.ReportMetric(float64(benchN*b.N)/b.Elapsed().Seconds(), "vectors/s")
		})
	}
}

// BenchmarkSearchK measures single-query search throughput against k.
func BenchmarkSearchK(b *testing.B) {
	data, queries := benchData()
	for _, f := range []string{"Flat", "HNSW32,Flat"} {
		x := build(b, data, benchDim, f, InnerProduct)
		for _, k := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/k=%d", f, k), func(b *testing.B) {
				i := 0
				for b.Loop() {
					q := i % benchQ
					if _, err := x.Search(queries[q*benchDim:(q+1)*benchDim], k); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			})
		}
	}
}

// BenchmarkMappedFlat compares FAISS's in-memory Flat search with the mapped in-place scan on
// the same file, for one query per call and for a batch.
func BenchmarkMappedFlat(b *testing.B) {
	data, queries := benchData()
	path := b.TempDir() + "/flat.index"
	if err := build(b, data, benchDim, "Flat", InnerProduct).Save(path); err != nil {
		b.Fatal(err)
	}
	for _, mmap := range []bool{false, true} {
		x, err := Load(path, mmap)
		if err != nil {
			b.Fatal(err)
		}
		name := map[bool]string{false: "faiss-memory", true: "mapped"}[mmap]
		for _, nq := range []int{1, benchQ} {
			b.Run(fmt.Sprintf("%s/nq=%d", name, nq), func(b *testing.B) {
				for b.Loop() {
					for q0 := 0; q0 < benchQ; q0 += nq {
						if _, err := x.Search(queries[q0*benchDim:(q0+nq)*benchDim], 20); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(benchQ*b.N)/b.Elapsed().Seconds(), "queries/s")
			})
		}
		x.Close()
	}
}
