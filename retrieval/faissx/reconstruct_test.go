package faissx

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReconstructReturnsTheAddedVectors: lossless indexes give back exactly the vectors that
// were added, by ordinal, in memory and after Save + Load with and without mmap.
func TestReconstructReturnsTheAddedVectors(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n, dim = 1500, 24
	data := clustered(rng, n, dim, 3)
	ords := []int64{0, n - 1, 7, 7, 1000, 3}
	for _, m := range []Metric{InnerProduct, L2} {
		for _, f := range []string{"Flat", "HNSW16,Flat", "IVF16,Flat"} {
			x := build(t, data, dim, f, m)
			path := filepath.Join(t.TempDir(), "x.index")
			if err := x.Save(path); err != nil {
				t.Fatal(err)
			}
			check := func(name string, y *Index) {
				got := make([]float32, len(ords)*dim)
				if err := y.Reconstruct(ords, got); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for i, o := range ords {
					for j := range dim {
						if got[i*dim+j] != data[int(o)*dim+j] {
							t.Fatalf("%s row %d col %d: %v, added %v", name, o, j, got[i*dim+j], data[int(o)*dim+j])
						}
					}
				}
			}
			check(fmt.Sprintf("%s/%s in memory", f, m), x)
			for _, mmap := range []bool{false, true} {
				y, err := Load(path, mmap)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("%s/%s loaded mmap=%v", f, m, mmap), y)
				y.Close()
			}
		}
	}
}

// TestReconstructMatchesFaissPython: faiss-python writes Flat, IVF and PQ indexes (FlashRAG's
// way: index_factory, add, write_index) and prints its own reconstruct of some rows; Go's
// Reconstruct of the same file (loaded with mmap) must agree. For PQ the rows are the lossy
// decodings, and their inner products with a query are the scores FAISS's search returns.
func TestReconstructMatchesFaissPython(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 1200, 16
	data := clustered(rng, n, dim, 8)
	dir := t.TempDir()
	writeF32(t, filepath.Join(dir, "corpus.f32"), data)
	kinds := []string{"Flat", "IVF8,Flat", "PQ4x4", "IVF8,PQ4x4"}
	ords := []int64{0, 17, 599, n - 1}
	out := python(t, `
import sys, faiss, numpy as np
d, dim = sys.argv[1], int(sys.argv[2])
ords = [int(s) for s in sys.argv[3].split(",")]
x = np.fromfile(d + "/corpus.f32", dtype="<f4").reshape(-1, dim)
for i, kind in enumerate(sys.argv[4].split(";")):
    idx = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    idx.train(x)
    idx.add(x)
    faiss.write_index(idx, d + "/k%d.index" % i)
    if kind.startswith("IVF"):
        faiss.extract_index_ivf(idx).make_direct_map()
    for o in ords:
        print(kind, o, " ".join(repr(float(v)) for v in idx.reconstruct(o)))
`, dir, strconv.Itoa(dim), "0,17,599,"+strconv.Itoa(n-1), strings.Join(kinds, ";"))
	want := map[string][]float32{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2+dim {
			t.Fatalf("python line %q", line)
		}
		v := make([]float32, dim)
		for j := range dim {
			x, err := strconv.ParseFloat(f[2+j], 64)
			if err != nil {
				t.Fatal(err)
			}
			v[j] = float32(x)
		}
		want[f[0]+" "+f[1]] = v
	}
	q := clustered(rng, 1, dim, 8)
	for i, kind := range kinds {
		x, err := Load(filepath.Join(dir, fmt.Sprintf("k%d.index", i)), true)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(ords)*dim)
		if err := x.Reconstruct(ords, got); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		lossy := strings.Contains(kind, "PQ")
		for r, o := range ords {
			w := want[fmt.Sprintf("%s %d", kind, o)]
			for j := range dim {
				if got[r*dim+j] != w[j] {
					t.Fatalf("%s row %d col %d: Go %v, faiss-python %v", kind, o, j, got[r*dim+j], w[j])
				}
				if !lossy && got[r*dim+j] != data[int(o)*dim+j] {
					t.Fatalf("%s row %d col %d: %v, added %v", kind, o, j, got[r*dim+j], data[int(o)*dim+j])
				}
			}
		}
		if lossy {
			// the decoded rows are what the index scores: q·reconstruct(top hit) = its score
			if strings.HasPrefix(kind, "IVF") {
				if err := x.SetParam("nprobe", 8); err != nil {
					t.Fatal(err)
				}
			}
			hits, err := x.Search(q, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits[0] {
				v := make([]float32, dim)
				if err := x.Reconstruct([]int64{h.ID}, v); err != nil {
					t.Fatal(err)
				}
				var s float64
				for j := range dim {
					s += float64(v[j]) * float64(q[j])
				}
				if math.Abs(s-float64(h.Score)) > 1e-4*max(1, math.Abs(s)) {
					t.Errorf("%s hit %d: q·reconstruct = %v, search score %v", kind, h.ID, s, h.Score)
				}
			}
		}
		x.Close()
	}
}

func TestReconstructBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := build(t, randomData(rng, 50, 8, true), 8, "Flat", InnerProduct)
	if err := x.Reconstruct([]int64{1}, make([]float32, 7)); err == nil {
		t.Error("short dst: no error")
	}
	for _, o := range []int64{-1, 50} {
		if err := x.Reconstruct([]int64{o}, make([]float32, 8)); err == nil {
			t.Errorf("row %d: no error", o)
		}
	}
	if err := x.Reconstruct(nil, nil); err != nil {
		t.Errorf("no rows: %v", err)
	}
	x.Close()
	if err := x.Reconstruct([]int64{0}, make([]float32, 8)); !errors.Is(err, ErrClosed) {
		t.Errorf("closed: %v", err)
	}
}
