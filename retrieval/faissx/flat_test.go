package faissx

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFlat streams data through a FlatWriter in uneven batches.
func writeFlat(t *testing.T, path string, data []float32, dim int, m Metric) {
	t.Helper()
	w, err := CreateFlat(path, dim, m)
	if err != nil {
		t.Fatal(err)
	}
	n := len(data) / dim
	for lo, step := 0, 1; lo < n; lo, step = lo+step, step*3+1 {
		hi := min(n, lo+step)
		if err := w.Add(data[lo*dim : hi*dim]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Len() != n {
		t.Fatalf("writer holds %d rows, want %d", w.Len(), n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The streaming writer writes the very bytes FAISS's write_index writes for the same vectors.
func TestFlatWriterMatchesFaissWriteIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, dim = 777, 24
	dir := t.TempDir()
	for _, m := range []Metric{InnerProduct, L2} {
		data := randomData(rng, n, dim, false)
		ours := filepath.Join(dir, "ours-"+m.String())
		writeFlat(t, ours, data, dim, m)
		theirs := filepath.Join(dir, "faiss-"+m.String())
		if err := build(t, data, dim, "Flat", m).Save(theirs); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(ours)
		b, _ := os.ReadFile(theirs)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: FlatWriter wrote %d bytes, FAISS %d; first difference at %d", m, len(a), len(b), firstDiff(a, b))
		}
	}
	if _, err := CreateFlat(filepath.Join(dir, "x"), 0, L2); err == nil {
		t.Error("dimension 0 accepted")
	}
	w, err := CreateFlat(filepath.Join(dir, "bad"), 4, L2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]float32{1, 2, 3}); err == nil {
		t.Error("3 floats accepted for dimension 4")
	}
	if err := w.Add([]float32{1, 2, float32(math.NaN()), 4}); err == nil {
		t.Error("NaN accepted")
	}
	w.Abort()
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
		t.Error("an aborted file was renamed into place")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A mapped Flat file ranks exactly like FAISS's in-memory IndexFlat and like the float64
// exact scan, across the block boundaries of the batched scan (rows and queries), for both
// metrics, single queries and k beyond the corpus.
func TestMappedFlatMatchesFaiss(t *testing.T) {
	rows, queries := flatRowBlock, flatQueryBlock
	flatRowBlock, flatQueryBlock = 300, 64
	t.Cleanup(func() { flatRowBlock, flatQueryBlock = rows, queries })
	rng := rand.New(rand.NewPCG(5, 6))
	const dim = 20
	for _, tc := range []struct {
		n, nq, k int
		m        Metric
	}{
		{n: 2000, nq: 1, k: 10, m: InnerProduct},
		{n: 2000, nq: 150, k: 7, m: InnerProduct},
		{n: 1999, nq: 70, k: 25, m: L2},
		{n: 30, nq: 3, k: 50, m: L2},
	} {
		name := fmt.Sprintf("%s/n=%d/nq=%d/k=%d", tc.m, tc.n, tc.nq, tc.k)
		data := clustered(rng, tc.n, dim, 40)
		queries := clustered(rng, tc.nq, dim, 40)
		path := filepath.Join(t.TempDir(), "flat.index")
		writeFlat(t, path, data, dim, tc.m)
		x, err := Load(path, true)
		if err != nil {
			t.Fatal(err)
		}
		if !x.Mapped() || x.Len() != tc.n || x.Dim() != dim || x.Metric() != tc.m || !x.IsTrained() {
			t.Fatalf("%s: mapped %v len %d dim %d metric %s", name, x.Mapped(), x.Len(), x.Dim(), x.Metric())
		}
		got, err := x.Search(queries, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		inMem, err := Load(path, false)
		if err != nil {
			t.Fatal(err)
		}
		want, err := inMem.Search(queries, tc.k)
		inMem.Close()
		if err != nil {
			t.Fatal(err)
		}
		exact, err := ExactSearch(data, dim, queries, tc.k, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		for q := range tc.nq {
			if len(got[q]) != min(tc.k, tc.n) {
				t.Fatalf("%s query %d: %d hits, want %d", name, q, len(got[q]), min(tc.k, tc.n))
			}
			for j, h := range got[q] {
				if math.Abs(float64(h.Score-want[q][j].Score)) > 1e-4*(1+math.Abs(float64(h.Score))) {
					t.Fatalf("%s query %d rank %d: score %g, FAISS %g", name, q, j, h.Score, want[q][j].Score)
				}
				// Ids may differ only between scores that tie in float32.
				if h.ID != exact[q][j].ID && math.Abs(float64(h.Score-exact[q][j].Score)) > 1e-5*(1+math.Abs(float64(h.Score))) {
					t.Fatalf("%s query %d rank %d: id %d (%g), exact %d (%g)", name, q, j, h.ID, h.Score, exact[q][j].ID, exact[q][j].Score)
				}
			}
		}
		// The stored rows are the added vectors.
		ords := []int64{0, int64(tc.n - 1), int64(tc.n / 2)}
		rows := make([]float32, len(ords)*dim)
		if err := x.flat.rows(ords, rows); err != nil {
			t.Fatal(err)
		}
		for i, o := range ords {
			for j := range dim {
				if rows[i*dim+j] != data[int(o)*dim+j] {
					t.Fatalf("%s: row %d differs at %d", name, o, j)
				}
			}
		}
		if err := x.flat.rows([]int64{int64(tc.n)}, make([]float32, dim)); err == nil {
			t.Errorf("%s: row %d of %d accepted", name, tc.n, tc.n)
		}
		if err := x.Add(data[:dim]); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: Add on a mapped index: %v", name, err)
		}
		if err := x.SetParam("nprobe", 4); err == nil {
			t.Errorf("%s: nprobe accepted on a Flat index", name)
		}
		saved := filepath.Join(t.TempDir(), "copy.index")
		if err := x.Save(saved); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(path)
		b, _ := os.ReadFile(saved)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: Save of a mapped index is not a copy of its file", name)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Search(queries[:dim], 1); err != ErrClosed {
			t.Errorf("%s: search after Close: %v", name, err)
		}
	}
}

// Corrupt Flat files are errors, never crashes; other index types still load through FAISS.
func TestMappedFlatRejectsCorruptFiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, dim = 50, 8
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFlat(t, good, randomData(rng, n, dim, false), dim, InnerProduct)
	b, _ := os.ReadFile(good)
	for name, mut := range map[string]func([]byte) []byte{
		"truncated":      func(b []byte) []byte { return b[:len(b)-3] },
		"header only":    func(b []byte) []byte { return b[:20] },
		"bad dimension":  func(b []byte) []byte { b[4], b[5], b[6], b[7] = 0, 0, 0, 0x80; return b },
		"bad count":      func(b []byte) []byte { b[8] = 49; return b },
		"metric clash":   func(b []byte) []byte { b[33] = 1; return b },
		"float count":    func(b []byte) []byte { b[37]++; return b },
		"huge count":     func(b []byte) []byte { b[15] = 0x7f; return b },
		"extra trailing": func(b []byte) []byte { return append(b, 0, 0, 0, 0) },
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, mut(append([]byte(nil), b...)), 0o644)
		if x, err := Load(p, true); err == nil {
			x.Close()
			t.Errorf("%s: loaded", name)
		}
	}
	hnsw := filepath.Join(dir, "hnsw")
	if err := build(t, randomData(rng, n, dim, false), dim, "HNSW8,Flat", L2).Save(hnsw); err != nil {
		t.Fatal(err)
	}
	x, err := Load(hnsw, true)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if x.Mapped() || x.Len() != n {
		t.Errorf("HNSW with mmap: mapped %v, len %d", x.Mapped(), x.Len())
	}
}
