package faissx

/*
#include <stdlib.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/error_c.h>

// reconstruct_keys decodes the vectors of keys[0..n) into out (n*d floats); it stops at the
// first failure and returns its code (the message is faiss_get_last_error on this thread).
static int reconstruct_keys(const FaissIndex* idx, const idx_t* keys, size_t n, float* out, int d) {
	for (size_t i = 0; i < n; i++) {
		int c = faiss_Index_reconstruct(idx, keys[i], out + i * (size_t)d);
		if (c != 0) return c;
	}
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	faiss "github.com/DataIntelligenceCrew/go-faiss"
)

// cIndex returns the C index behind x.idx. go-faiss keeps the pointer behind an unexported
// interface method; every go-faiss constructor (IndexFactory, ReadIndex) stores an
// *IndexImpl whose Index is a *faissIndex whose first and only field is the pointer. The
// result is checked against go-faiss's own D and Ntotal, so a go-faiss whose layout differs
// makes Reconstruct fail with an error instead of reading garbage. Callers hold x.mu.
func (x *Index) cIndex() (*C.FaissIndex, error) {
	impl, ok := x.idx.(*faiss.IndexImpl)
	if !ok || impl == nil || impl.Index == nil {
		return nil, errors.New("faissx: reconstruct: not a go-faiss IndexImpl")
	}
	type iface struct{ typ, data unsafe.Pointer }
	data := (*iface)(unsafe.Pointer(&impl.Index)).data
	if data == nil {
		return nil, errors.New("faissx: reconstruct: nil index")
	}
	p := *(**C.FaissIndex)(data)
	if p == nil || int(C.faiss_Index_d(p)) != impl.D() || int64(C.faiss_Index_ntotal(p)) != impl.Ntotal() {
		return nil, errors.New("faissx: reconstruct: cannot reach the FAISS index through this go-faiss version")
	}
	return p, nil
}

func lastError(what string) error {
	msg := C.GoString(C.faiss_get_last_error())
	if msg == "" {
		msg = "unknown FAISS error"
	}
	return fmt.Errorf("faissx: %s: %s", what, msg)
}

// prepareReconstruct makes an IVF index able to reconstruct by id: FAISS keeps no id -> list
// map unless asked (make_direct_map, 8 bytes per vector, built once by scanning the lists).
// Callers hold x.mu for writing.
func (x *Index) prepareReconstruct() error {
	if x.reconstructReady {
		return nil
	}
	p, err := x.cIndex()
	if err != nil {
		return err
	}
	onThread(func() {
		if ivf := C.faiss_IndexIVF_cast(p); ivf != nil {
			if C.faiss_IndexIVF_make_direct_map(ivf, 1) != 0 {
				err = lastError("reconstruct: direct map of the IVF index")
			}
		}
	})
	if err == nil {
		x.reconstructReady = true
	}
	return err
}

// Reconstruct writes the stored vectors of rows ords (row-major, Dim() floats each) into dst,
// which must hold len(ords)*Dim() floats. It works on Flat, HNSW*,Flat and IVF*,Flat indexes,
// loaded with or without mmap (a mapped Flat file is read in place: only the rows asked for
// are touched), and returns the vectors exactly as added. Lossy encodings
// (PQ, SQ, IVF*,PQ*) return FAISS's decoded approximation: the very vectors the index scores
// queries against, so a query adapter trained on them fits what the index ranks. The first
// call on an IVF index builds its id map (8 bytes per vector). Indexes that cannot
// reconstruct (IndexIDMap, some pre-transforms) return FAISS's error; so does an out-of-range
// ordinal. Safe for concurrent use with Search.
func (x *Index) Reconstruct(ords []int64, dst []float32) error {
	if len(dst) != len(ords)*x.dim {
		return fmt.Errorf("faissx: reconstruct: dst holds %d floats, want %d (%d rows of %d)", len(dst), len(ords)*x.dim, len(ords), x.dim)
	}
	if len(ords) == 0 {
		return nil
	}
	x.mu.RLock()
	if x.flat != nil {
		defer x.mu.RUnlock()
		return x.readFlatRows(ords, dst)
	}
	ready := x.reconstructReady
	x.mu.RUnlock()
	if !ready {
		x.mu.Lock()
		var err error
		if x.idx == nil {
			err = ErrClosed
		} else {
			err = x.prepareReconstruct()
		}
		x.mu.Unlock()
		if err != nil {
			return err
		}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return ErrClosed
	}
	n := x.idx.Ntotal()
	for _, o := range ords {
		if o < 0 || o >= n {
			return fmt.Errorf("faissx: reconstruct: row %d out of range [0, %d)", o, n)
		}
	}
	p, err := x.cIndex()
	if err != nil {
		return err
	}
	// ords and dst are Go memory passed for the duration of the call only (cgo rules allow it:
	// neither holds Go pointers).
	onThread(func() {
		if C.reconstruct_keys(p, (*C.idx_t)(unsafe.Pointer(&ords[0])), C.size_t(len(ords)), (*C.float)(unsafe.Pointer(&dst[0])), C.int(x.dim)) != 0 {
			err = lastError(fmt.Sprintf("reconstruct %d rows", len(ords)))
		}
	})
	return err
}

// readFlatRows reads rows of a mapped Flat file with pread rather than through the mapping:
// the rows land in the page cache without being mapped into the process, so scattered
// reads (a trainer's random negatives) do not pull the file into its resident set a
// fault-around window at a time. Callers hold x.mu.
func (x *Index) readFlatRows(ords []int64, dst []float32) error {
	d, n := x.flat.h.dim, x.flat.h.n
	f, err := os.Open(x.path)
	if err != nil {
		return fmt.Errorf("faissx: reconstruct: %w", err)
	}
	defer f.Close()
	if len(dst) == 0 {
		return nil
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)) // little-endian host, like the file
	for i, o := range ords {
		if o < 0 || o >= n {
			return fmt.Errorf("faissx: reconstruct: row %d out of range [0, %d)", o, n)
		}
		if _, err := f.ReadAt(out[4*i*d:4*(i+1)*d], flatHeaderSize+4*o*int64(d)); err != nil {
			return fmt.Errorf("faissx: reconstruct row %d: %w", o, err)
		}
	}
	return nil
}
