package faissx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func randomData(rng *rand.Rand, n, dim int, unit bool) []float32 {
	v := make([]float32, n*dim)
	for i := range n {
		row := v[i*dim : (i+1)*dim]
		var s float64
		for j := range row {
			row[j] = float32(rng.NormFloat64())
			s += float64(row[j]) * float64(row[j])
		}
		if unit {
			for j := range row {
				row[j] = float32(float64(row[j]) / math.Sqrt(s))
			}
		}
	}
	return v
}

func ids(hs []Hit) []int64 {
	out := make([]int64, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func sameIDs(a, b []Hit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

func build(t testing.TB, data []float32, dim int, factory string, m Metric) *Index {
	t.Helper()
	x, err := New(dim, factory, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if err := x.Build(data); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestFlatMatchesExactScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, dim, nq, k = 3000, 48, 60, 20
	for _, m := range []Metric{InnerProduct, L2} {
		data := randomData(rng, n, dim, m == InnerProduct)
		queries := randomData(rng, nq, dim, m == InnerProduct)
		x := build(t, data, dim, "Flat", m)
		if x.Len() != n || x.Dim() != dim || x.Metric() != m {
			t.Fatalf("%s: len %d dim %d metric %s", m, x.Len(), x.Dim(), x.Metric())
		}
		got, err := x.Search(queries, k)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ExactSearch(data, dim, queries, k, m)
		if err != nil {
			t.Fatal(err)
		}
		for q := range nq {
			if !sameIDs(got[q], want[q]) {
				t.Errorf("%s query %d: faiss %v, exact %v", m, q, ids(got[q]), ids(want[q]))
				continue
			}
			for j := range got[q] {
				if d := math.Abs(float64(got[q][j].Score - want[q][j].Score)); d > 1e-4 {
					t.Errorf("%s query %d rank %d: score %g vs %g", m, q, j, got[q][j].Score, want[q][j].Score)
				}
			}
		}
	}
}

// clustered draws unit vectors near a random rank-8 subspace of R^dim (text embeddings have
// such low intrinsic dimension; uniform random vectors in high dimension are a worst case no
// ANN index is built for). The subspace depends only on seed, so corpus and queries that
// share a seed share it.
func clustered(rng *rand.Rand, n, dim, seed int) []float32 {
	const rank = 8
	arng := rand.New(rand.NewPCG(uint64(seed), 99))
	A := make([]float64, dim*rank)
	for i := range A {
		A[i] = arng.NormFloat64()
	}
	v := make([]float32, n*dim)
	row := make([]float64, dim)
	z := make([]float64, rank)
	for i := range n {
		for l := range z {
			z[l] = rng.NormFloat64()
		}
		var s float64
		for j := range dim {
			row[j] = 0.05 * rng.NormFloat64()
			for l := range rank {
				row[j] += A[j*rank+l] * z[l]
			}
			s += row[j] * row[j]
		}
		for j := range dim {
			v[i*dim+j] = float32(row[j] / math.Sqrt(s))
		}
	}
	return v
}

func TestApproximateIndexesKeepFlatTop20(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, dim, nq, k = 4000, 32, 100, 20
	data := clustered(rng, n, dim, 40)
	queries := clustered(rng, nq, dim, 40)
	flat := build(t, data, dim, "Flat", InnerProduct)
	ref, err := flat.Search(queries, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		factory string
		param   string
		value   float64
		min     float64
	}{
		{"HNSW32,Flat", "efSearch", 64, 0.98},
		{"IVF32,Flat", "nprobe", 16, 0.98},
		{"IVF32,SQ8", "nprobe", 16, 0.95},
	} {
		x := build(t, data, dim, tc.factory, InnerProduct)
		if tc.param != "" {
			if err := x.SetParam(tc.param, tc.value); err != nil {
				t.Fatal(err)
			}
		}
		got, err := x.Search(queries, k)
		if err != nil {
			t.Fatal(err)
		}
		r := overlap(ref, got)
		t.Logf("%-12s keeps %.3f of the Flat top-%d", tc.factory, r, k)
		if r < tc.min {
			t.Errorf("%s keeps %.3f of the Flat top-%d, want >= %.2f", tc.factory, r, k, tc.min)
		}
	}
}

func overlap(ref, got [][]Hit) float64 {
	var hit, total int
	for q := range ref {
		in := map[int64]bool{}
		for _, h := range got[q] {
			in[h.ID] = true
		}
		for _, h := range ref[q] {
			total++
			if in[h.ID] {
				hit++
			}
		}
	}
	return float64(hit) / float64(total)
}

func TestSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 1500, 16
	data := clustered(rng, n, dim, 10)
	queries := clustered(rng, 30, dim, 10)
	for _, f := range []string{"Flat", "HNSW16,Flat", "IVF8,Flat"} {
		x := build(t, data, dim, f, InnerProduct)
		before, err := x.Search(queries, 10)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "x.index")
		if err := x.Save(path); err != nil {
			t.Fatal(err)
		}
		for _, mmap := range []bool{false, true} {
			y, err := Load(path, mmap)
			if err != nil {
				t.Fatalf("%s mmap=%v: %v", f, mmap, err)
			}
			if y.Len() != n || y.Dim() != dim || y.Metric() != InnerProduct {
				t.Errorf("%s: loaded len %d dim %d metric %s", f, y.Len(), y.Dim(), y.Metric())
			}
			after, err := y.Search(queries, 10)
			if err != nil {
				t.Fatal(err)
			}
			for q := range before {
				if !sameIDs(before[q], after[q]) {
					t.Errorf("%s mmap=%v query %d: %v after load, %v before", f, mmap, q, ids(after[q]), ids(before[q]))
				}
			}
			y.Close()
		}
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New(8, "NoSuchIndex42", InnerProduct); err == nil {
		t.Error("unknown factory: no error")
	}
	if _, err := New(0, "Flat", InnerProduct); err == nil {
		t.Error("dim 0: no error")
	}
	if _, err := ParseMetric("cosine-ish"); err == nil {
		t.Error("bad metric: no error")
	}
	x, err := New(4, "Flat", L2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.Search([]float32{1, 2, 3, 4}, 3); err != nil || len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("search of empty index: %v, %v", got, err)
	}
	if err := x.Add([]float32{1, 2, 3}); err == nil {
		t.Error("add of 3 floats at dim 4: no error")
	}
	if err := x.Add([]float32{1, 2, 3, float32(math.NaN())}); err == nil {
		t.Error("add of NaN: no error")
	}
	if err := x.Add([]float32{1, 2, 3, 4, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Search([]float32{1, 2, 3, 4}, 0); err == nil {
		t.Error("k=0: no error")
	}
	if _, err := x.Search(nil, 3); err == nil {
		t.Error("no queries: no error")
	}
	got, err := x.Search([]float32{1, 2, 3, 4}, 5) // k > n: -1 labels dropped
	if err != nil || len(got[0]) != 2 || got[0][0].ID != 0 || got[0][0].Score != 0 {
		t.Errorf("k > n: %v, %v", got, err)
	}
	ivf, err := New(4, "IVF4,Flat", InnerProduct)
	if err != nil {
		t.Fatal(err)
	}
	if err := ivf.Add([]float32{1, 2, 3, 4}); err == nil {
		t.Error("add to untrained IVF: no error")
	}
	ivf.Close()
	x.Close()
	x.Close()
	if _, err := x.Search([]float32{1, 2, 3, 4}, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("search after close: %v", err)
	}
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.index"), false); err == nil {
		t.Error("load of a missing file: no error")
	}
	junk := filepath.Join(dir, "junk.index")
	os.WriteFile(junk, []byte("this is not a faiss index at all"), 0o644)
	if _, err := Load(junk, false); err == nil {
		t.Error("load of junk: no error")
	}
}

func TestConcurrentSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const dim = 24
	data := clustered(rng, 2000, dim, 12)
	queries := clustered(rng, 16, dim, 12)
	x := build(t, data, dim, "HNSW16,Flat", InnerProduct)
	want, err := x.Search(queries, 10)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				q := (g + i) % 16
				got, err := x.Search(queries[q*dim:(q+1)*dim], 10)
				if err != nil {
					errs <- err
					return
				}
				if !sameIDs(got[0], want[q]) {
					errs <- fmt.Errorf("query %d: concurrent result %v, want %v", q, ids(got[0]), ids(want[q]))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// python runs a script under Debian's /usr/bin/python3 with faiss-python.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import faiss, numpy").Run(); err != nil {
		t.Fatalf("faiss-python is missing (%v): run `scripts/setup.sh faisspy`", err)
	}
	out, err := exec.CommandContext(t.Context(), py, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

func writeF32(t *testing.T, path string, v []float32) {
	t.Helper()
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFaissPythonInterop: FlashRAG writes `{method}_{type}.index` with faiss-python
// (index_factory(dim, type, METRIC_INNER_PRODUCT), add all corpus rows, write_index). Go must
// read such files and rank like an exact scan; faiss-python must read Go's files and return
// the same ids.
func TestFaissPythonInterop(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, dim, nq, k = 2000, 32, 25, 20
	data := clustered(rng, n, dim, 15)
	queries := clustered(rng, nq, dim, 15)
	dir := t.TempDir()
	writeF32(t, filepath.Join(dir, "corpus.f32"), data)
	writeF32(t, filepath.Join(dir, "queries.f32"), queries)
	python(t, `
import sys, faiss, numpy as np
d, dim = sys.argv[1], int(sys.argv[2])
x = np.fromfile(d + "/corpus.f32", dtype="<f4").reshape(-1, dim)
for kind in ["Flat", "HNSW32,Flat"]:
    idx = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    idx.add(x)
    faiss.write_index(idx, d + "/e5_" + kind.split(",")[0] + ".index")
`, dir, fmt.Sprint(dim))
	want, err := ExactSearch(data, dim, queries, k, InnerProduct)
	if err != nil {
		t.Fatal(err)
	}
	// e5_Flat.index is read twice: into memory by FAISS, and mapped (searched in place).
	for i, name := range []string{"e5_Flat.index", "e5_Flat.index", "e5_HNSW32.index"} {
		x, err := Load(filepath.Join(dir, name), i == 1)
		if err != nil {
			t.Fatal(err)
		}
		if x.Mapped() != (i == 1) {
			t.Fatalf("%s: mapped %v", name, x.Mapped())
		}
		if x.Len() != n || x.Dim() != dim || x.Metric() != InnerProduct {
			t.Fatalf("%s: len %d dim %d metric %s", name, x.Len(), x.Dim(), x.Metric())
		}
		if name == "e5_HNSW32.index" {
			if err := x.SetParam("efSearch", 128); err != nil {
				t.Fatal(err)
			}
		}
		got, err := x.Search(queries, k)
		if err != nil {
			t.Fatal(err)
		}
		if name == "e5_Flat.index" {
			for q := range nq {
				if !sameIDs(got[q], want[q]) {
					t.Errorf("%s query %d: %v, exact scan %v", name, q, ids(got[q]), ids(want[q]))
				}
			}
		} else if r := overlap(want, got); r < 0.98 {
			t.Errorf("%s keeps %.3f of the exact top-%d", name, r, k)
		}
		x.Close()
	}

	// Go writes, faiss-python reads and searches.
	x := build(t, data, dim, "Flat", InnerProduct)
	if err := x.Save(filepath.Join(dir, "go_Flat.index")); err != nil {
		t.Fatal(err)
	}
	out := python(t, `
import sys, faiss, numpy as np
d, dim, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
idx = faiss.read_index(d + "/go_Flat.index")
q = np.fromfile(d + "/queries.f32", dtype="<f4").reshape(-1, dim)
_, I = idx.search(q, k)
for row in I:
    print(" ".join(str(i) for i in row))
`, dir, fmt.Sprint(dim), fmt.Sprint(k))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != nq {
		t.Fatalf("python printed %d lines, want %d:\n%s", len(lines), nq, out)
	}
	for q, line := range lines {
		ws := make([]string, len(want[q]))
		for j, h := range want[q] {
			ws[j] = fmt.Sprint(h.ID)
		}
		if got := strings.Join(ws, " "); got != line {
			t.Errorf("query %d: faiss-python on Go's file %q, exact %q", q, line, got)
		}
	}
}
