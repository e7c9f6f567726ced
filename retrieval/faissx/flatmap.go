package faissx

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <stddef.h>
#include <math.h>

// OpenBLAS's Fortran sgemm (the one FAISS calls, faiss/utils/distances.cpp), 32-bit integers.
extern int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
		const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
		const float* beta, float* c, const int* ldc);

// flat_ip writes out[q*ny + j] = <x_q, y_j> for nx queries x (row-major, d floats each) and ny
// rows y: the column-major ny x nx product Y^T X, as FAISS's exhaustive_inner_product_blas.
static void flat_ip(const float* x, const float* y, int d, int nx, int ny, float* out) {
	const float one = 1, zero = 0;
	sgemm_("T", "N", &ny, &nx, &d, &one, y, &d, x, &d, &zero, out, &ny);
}

// row_norms writes the squared L2 norms of the ny rows of y.
static void row_norms(const float* y, int d, int ny, float* out) {
	for (int j = 0; j < ny; j++) {
		const float* r = y + (size_t)j * d;
		float s = 0;
		for (int t = 0; t < d; t++) s += r[t] * r[t];
		out[j] = s;
	}
}

// A result heap of k (score, id) pairs per query, higher score better: a min-heap whose root
// is the worst kept pair; on equal scores the higher id is worse.
static inline int worse(float sa, int64_t ia, float sb, int64_t ib) {
	return sa < sb || (sa == sb && ia > ib);
}

static void sift_down(float* hs, int64_t* hi, int k) {
	int i = 0;
	float s = hs[0];
	int64_t id = hi[0];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= k) break;
		if (c + 1 < k && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
		if (!worse(hs[c], hi[c], s, id)) break;
		hs[i] = hs[c];
		hi[i] = hi[c];
		i = c;
	}
	hs[i] = s;
	hi[i] = id;
}

// select_block offers the scores s[q*ny + j] of row j0+j to the heaps of queries [0, nq).
// With l2, the score is minus the squared distance qn[q] + yn[j] - 2 s, clamped at 0 as FAISS
// does (exhaustive_L2sqr_blas). Row ids increase, so a later row never displaces an equal score.
static void select_block(const float* s, int nq, int ny, int64_t j0, int k,
		float* hs, int64_t* hi, const float* qn, const float* yn, int l2) {
	for (int q = 0; q < nq; q++) {
		float* H = hs + (size_t)q * k;
		int64_t* I = hi + (size_t)q * k;
		const float* row = s + (size_t)q * ny;
		float thr = H[0];
		if (l2) {
			float a = qn[q];
			for (int j = 0; j < ny; j++) {
				float dis = a + yn[j] - 2 * row[j];
				if (dis < 0) dis = 0;
				float v = -dis;
				if (v > thr) {
					H[0] = v;
					I[0] = j0 + j;
					sift_down(H, I, k);
					thr = H[0];
				}
			}
		} else {
			for (int j = 0; j < ny; j++) {
				float v = row[j];
				if (v > thr) {
					H[0] = v;
					I[0] = j0 + j;
					sift_down(H, I, k);
					thr = H[0];
				}
			}
		}
	}
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"unsafe"
)

// mappedFlat is a FAISS IndexFlat file searched in place through a read-only memory mapping:
// resident memory is the page cache of the pages a search touches, which the kernel can drop,
// plus per-search buffers proportional to the number of queries. FAISS 1.7.3's read_index
// copies Flat vectors into memory whatever the IO flags, so Load maps Flat files itself.
type mappedFlat struct {
	data []byte // the whole file
	h    flatHeader
}

// Block sizes of the batched search: database rows per BLAS call and queries per pass over
// the database (the score buffer is their product in floats: 16 MB). Variables so that tests
// cross the block boundaries with small data.
var (
	flatRowBlock   = 4096
	flatQueryBlock = 1024
)

func openMappedFlat(path string) (*mappedFlat, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	h, ok, err := readFlatHeader(f, st.Size())
	if err != nil || !ok {
		return nil, ok, err
	}
	if st.Size() > math.MaxInt {
		return nil, true, fmt.Errorf("%d bytes do not fit the address space", st.Size())
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, true, fmt.Errorf("mmap: %w", err)
	}
	return &mappedFlat{data: data, h: h}, true, nil
}

func (m *mappedFlat) close() error {
	if m.data == nil {
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data = nil
	return err
}

// rowsPtr points at row j of the vectors (mapped memory, not Go memory).
func (m *mappedFlat) rowsPtr(j int) *C.float {
	return (*C.float)(unsafe.Pointer(&m.data[flatHeaderSize+4*j*m.h.dim]))
}

// rows copies the stored vectors of ords into dst (len(ords)*dim floats).
func (m *mappedFlat) rows(ords []int64, dst []float32) error {
	d := m.h.dim
	if len(dst) != len(ords)*d {
		return fmt.Errorf("faissx: rows: dst holds %d floats, want %d", len(dst), len(ords)*d)
	}
	if len(dst) == 0 {
		return nil
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst))
	for i, o := range ords {
		if o < 0 || o >= m.h.n {
			return fmt.Errorf("faissx: row %d out of range [0, %d)", o, m.h.n)
		}
		off := flatHeaderSize + 4*int(o)*d
		copy(out[4*i*d:4*(i+1)*d], m.data[off:off+4*d]) // little-endian host (amd64, arm64)
	}
	return nil
}

// search returns the k best rows of each of the nq queries (row-major in q), best first: one
// BLAS product per block of rows and queries, then the heaps of the block's queries updated
// on every core.
func (m *mappedFlat) search(q []float32, nq, k int) [][]Hit {
	d, n := m.h.dim, int(m.h.n)
	k = min(k, n)
	out := make([][]Hit, nq)
	if k == 0 {
		return out
	}
	l2 := m.h.metric == L2
	workers := runtime.GOMAXPROCS(0)
	for q0 := 0; q0 < nq; q0 += flatQueryBlock {
		q1 := min(nq, q0+flatQueryBlock)
		bq := q1 - q0
		hs := make([]float32, bq*k)
		hi := make([]int64, bq*k)
		for i := range hs {
			hs[i], hi[i] = float32(math.Inf(-1)), -1
		}
		qn := make([]float32, bq)
		if l2 {
			for i := range bq {
				var s float32
				for _, x := range q[(q0+i)*d : (q0+i+1)*d] {
					s += x * x
				}
				qn[i] = s
			}
		}
		scores := make([]float32, bq*min(flatRowBlock, n))
		yn := make([]float32, min(flatRowBlock, n))
		for j0 := 0; j0 < n; j0 += flatRowBlock {
			ny := min(flatRowBlock, n-j0)
			C.flat_ip((*C.float)(unsafe.Pointer(&q[q0*d])), m.rowsPtr(j0), C.int(d), C.int(bq), C.int(ny), (*C.float)(unsafe.Pointer(&scores[0])))
			if l2 {
				C.row_norms(m.rowsPtr(j0), C.int(d), C.int(ny), (*C.float)(unsafe.Pointer(&yn[0])))
			}
			selectParallel(workers, bq, func(a, b int) {
				C.select_block((*C.float)(unsafe.Pointer(&scores[a*ny])), C.int(b-a), C.int(ny), C.int64_t(j0), C.int(k),
					(*C.float)(unsafe.Pointer(&hs[a*k])), (*C.int64_t)(unsafe.Pointer(&hi[a*k])),
					(*C.float)(unsafe.Pointer(&qn[a])), (*C.float)(unsafe.Pointer(&yn[0])), boolInt(l2))
			})
		}
		for i := range bq {
			out[q0+i] = heapHits(hs[i*k:(i+1)*k], hi[i*k:(i+1)*k], l2)
		}
	}
	return out
}

// selectParallel splits [0, n) into up to workers ranges and runs f on each concurrently.
func selectParallel(workers, n int, f func(a, b int)) {
	if workers <= 1 || n < 2*workers {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for a := 0; a < n; a += step {
		wg.Go(func() { f(a, min(n, a+step)) })
	}
	wg.Wait()
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// heapHits turns one query's heap into hits, best first (ties by lower id), dropping empty
// slots; L2 scores go back to distances.
func heapHits(hs []float32, hi []int64, l2 bool) []Hit {
	hits := make([]Hit, 0, len(hs))
	for i := range hs {
		if hi[i] < 0 {
			continue
		}
		hits = append(hits, Hit{ID: hi[i], Score: hs[i]})
	}
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].ID < hits[b].ID
	})
	if l2 {
		for i := range hits {
			hits[i].Score = -hits[i].Score
		}
	}
	return hits
}
