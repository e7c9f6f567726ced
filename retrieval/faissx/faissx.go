package faissx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"

	faiss "github.com/DataIntelligenceCrew/go-faiss"
)

// ErrClosed is returned by calls on a closed Index.
var ErrClosed = errors.New("faissx: index closed")

// Metric is the similarity of an index.
type Metric int

const (
	// InnerProduct ranks by the dot product, highest first (cosine for unit vectors).
	InnerProduct Metric = iota
	// L2 ranks by squared Euclidean distance, lowest first.
	L2
)

// String returns "ip" or "l2".
func (m Metric) String() string {
	if m == L2 {
		return "l2"
	}
	return "ip"
}

// ParseMetric reads "ip" (also "inner_product", "cosine") or "l2".
func ParseMetric(s string) (Metric, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ip", "inner_product", "innerproduct", "cosine", "dot":
		return InnerProduct, nil
	case "l2", "euclidean":
		return L2, nil
	}
	return 0, fmt.Errorf("faissx: unknown metric %q (want ip or l2)", s)
}

func (m Metric) faiss() int {
	if m == L2 {
		return faiss.MetricL2
	}
	return faiss.MetricInnerProduct
}

// Index is a FAISS index. See the package documentation for its concurrency contract.
type Index struct {
	mu      sync.RWMutex
	idx     faiss.Index // nil for a mapped Flat file
	flat    *mappedFlat // a Flat file searched in place (Load with mmap)
	path    string      // the file of a mapped index
	dim     int
	metric  Metric
	factory string
	// reconstructReady: Reconstruct's one-time preparation (an IVF id map) is done.
	reconstructReady bool
}

// New builds an empty index from an index_factory description such as "Flat" or "HNSW32,Flat".
func New(dim int, factory string, metric Metric) (*Index, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("faissx: dimension %d must be positive", dim)
	}
	factory = strings.TrimSpace(factory)
	if factory == "" {
		factory = "Flat"
	}
	var (
		impl *faiss.IndexImpl
		err  error
	)
	onThread(func() { impl, err = faiss.IndexFactory(dim, factory, metric.faiss()) })
	if err != nil {
		return nil, fmt.Errorf("faissx: index_factory(%d, %q, %s): %w", dim, factory, metric, err)
	}
	return &Index{idx: impl, dim: dim, metric: metric, factory: factory}, nil
}

// Load reads an index saved by Save, written by FlatWriter or by faiss-python's write_index.
// With mmap the vectors are memory-mapped read-only where the index type allows it: a Flat
// file (IndexFlatIP/IndexFlatL2, FlashRAG's {method}_Flat.index) is searched in place by
// lsrflow's own batched BLAS scan, IVF inverted lists by FAISS's on-disk lists; other types
// are read into memory. A mapped index is read-only: Train and Add return an error.
func Load(path string, mmap bool) (*Index, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("faissx: load: %w", err)
	}
	flags := 0
	if mmap {
		mf, isFlat, err := openMappedFlat(path)
		if err != nil {
			return nil, fmt.Errorf("faissx: read %s: %w", path, err)
		}
		if isFlat {
			return &Index{flat: mf, path: path, dim: mf.h.dim, metric: mf.h.metric, factory: "Flat"}, nil
		}
		flags = faiss.IOFlagMmap | faiss.IOFlagReadOnly
	}
	var (
		impl *faiss.IndexImpl
		err  error
	)
	onThread(func() { impl, err = faiss.ReadIndex(path, flags) })
	if err != nil {
		return nil, fmt.Errorf("faissx: read %s: %w", path, err)
	}
	m := InnerProduct
	switch impl.MetricType() {
	case faiss.MetricInnerProduct:
	case faiss.MetricL2:
		m = L2
	default:
		impl.Delete()
		return nil, fmt.Errorf("faissx: %s: unsupported metric type %d", path, impl.MetricType())
	}
	return &Index{idx: impl, dim: impl.D(), metric: m, factory: "(loaded)"}, nil
}

// onThread runs f on a locked OS thread: the FAISS C API keeps its last error per thread.
func onThread(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
}

// Dim is the vector length.
func (x *Index) Dim() int { return x.dim }

// Metric is the index's similarity.
func (x *Index) Metric() Metric { return x.metric }

// Factory is the index_factory description the index was built from ("(loaded)" after Load).
func (x *Index) Factory() string { return x.factory }

// Mapped reports whether the index is a Flat file searched in place (read-only).
func (x *Index) Mapped() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.flat != nil
}

// Len is the number of vectors in the index (0 after Close).
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.flat != nil {
		return int(x.flat.h.n)
	}
	if x.idx == nil {
		return 0
	}
	return int(x.idx.Ntotal())
}

// IsTrained reports whether the index can take vectors (always true for Flat and HNSW).
func (x *Index) IsTrained() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.flat != nil || x.idx != nil && x.idx.IsTrained()
}

// errMapped is returned by the calls that would modify a mapped index.
func (x *Index) errMapped(what string) error {
	return fmt.Errorf("faissx: %s: %s is a memory-mapped, read-only index (load it without mmap to modify it)", what, x.path)
}

func (x *Index) checkRows(v []float32, what string) (int, error) {
	if len(v) == 0 || len(v)%x.dim != 0 {
		return 0, fmt.Errorf("faissx: %s: %d floats is not a positive multiple of dimension %d", what, len(v), x.dim)
	}
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return 0, fmt.Errorf("faissx: %s: non-finite value at row %d", what, i/x.dim)
		}
	}
	return len(v) / x.dim, nil
}

// Train trains the index on the rows of v (row-major, Dim() floats each) when it needs
// training; an already trained index is left as is.
func (x *Index) Train(v []float32) error {
	if _, err := x.checkRows(v, "train"); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.flat != nil {
		return nil // a Flat index needs no training
	}
	if x.idx == nil {
		return ErrClosed
	}
	if x.idx.IsTrained() {
		return nil
	}
	var err error
	onThread(func() { err = x.idx.Train(v) })
	if err != nil {
		return fmt.Errorf("faissx: train %q on %d vectors: %w", x.factory, len(v)/x.dim, err)
	}
	return nil
}

// Add appends the rows of v; their ids continue from Len().
func (x *Index) Add(v []float32) error {
	if _, err := x.checkRows(v, "add"); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.flat != nil {
		return x.errMapped("add")
	}
	if x.idx == nil {
		return ErrClosed
	}
	if !x.idx.IsTrained() {
		return fmt.Errorf("faissx: add: index %q is not trained (call Train first)", x.factory)
	}
	var err error
	onThread(func() { err = x.idx.Add(v) })
	if err != nil {
		return fmt.Errorf("faissx: add %d vectors: %w", len(v)/x.dim, err)
	}
	return nil
}

// Build trains the index on all of v when needed, then adds v.
func (x *Index) Build(v []float32) error {
	if err := x.Train(v); err != nil {
		return err
	}
	return x.Add(v)
}

// Hit is one search result: a row id and its score (inner product, or squared L2 distance).
type Hit struct {
	ID    int64
	Score float32
}

// Search returns, for each row of queries, at most k hits best first.
func (x *Index) Search(queries []float32, k int) ([][]Hit, error) {
	n, err := x.checkRows(queries, "search")
	if err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, fmt.Errorf("faissx: search: k = %d must be positive", k)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.flat != nil {
		return x.flat.search(queries, n, k), nil
	}
	if x.idx == nil {
		return nil, ErrClosed
	}
	if total := int(x.idx.Ntotal()); total == 0 {
		return make([][]Hit, n), nil
	}
	var (
		dist   []float32
		labels []int64
	)
	onThread(func() { dist, labels, err = x.idx.Search(queries, int64(k)) })
	if err != nil {
		return nil, fmt.Errorf("faissx: search %d queries, k=%d: %w", n, k, err)
	}
	out := make([][]Hit, n)
	for q := range n {
		hits := make([]Hit, 0, k)
		for j := q * k; j < (q+1)*k; j++ {
			if labels[j] < 0 {
				continue
			}
			hits = append(hits, Hit{ID: labels[j], Score: dist[j]})
		}
		out[q] = hits
	}
	return out, nil
}

// SetParam sets a search-time parameter through FAISS's ParameterSpace: "nprobe" for IVF,
// "efSearch" for HNSW, etc.
func (x *Index) SetParam(name string, value float64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.flat != nil {
		return fmt.Errorf("faissx: set %s=%g: a Flat index has no search parameters", name, value)
	}
	if x.idx == nil {
		return ErrClosed
	}
	var err error
	onThread(func() {
		var ps *faiss.ParameterSpace
		ps, err = faiss.NewParameterSpace()
		if err != nil {
			return
		}
		defer ps.Delete()
		err = ps.SetIndexParameter(x.idx, name, value)
	})
	if err != nil {
		return fmt.Errorf("faissx: set %s=%g on %q: %w", name, value, x.factory, err)
	}
	return nil
}

// Save writes the index in FAISS's on-disk format (readable by faiss-python's read_index),
// through a temporary file renamed into place.
func (x *Index) Save(path string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.flat != nil {
		return copyFile(x.path, path)
	}
	if x.idx == nil {
		return ErrClosed
	}
	tmp := path + ".tmp"
	var err error
	onThread(func() { err = faiss.WriteIndex(x.idx, tmp) })
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("faissx: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("faissx: save: %w", err)
	}
	return nil
}

// Close frees the index. It is safe to call more than once.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx != nil {
		x.idx.Delete()
		x.idx = nil
	}
	if x.flat != nil {
		err := x.flat.close()
		x.flat = nil
		return err
	}
	return nil
}

// copyFile copies src to dst through a temporary file renamed into place (the kernel copies:
// no user-space buffer of the file's size).
func copyFile(src, dst string) error {
	if sameFile(src, dst) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("faissx: save: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("faissx: save: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("faissx: save %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("faissx: save %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("faissx: save %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("faissx: save: %w", err)
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
