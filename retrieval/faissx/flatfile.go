package faissx

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// FAISS's on-disk IndexFlat (faiss/impl/index_write.cpp, write_index for IndexFlat and
// write_index_header; read back by index_read.cpp, read_index), all little-endian:
//
//	fourcc       "IxFI" (inner product) or "IxF2" (L2)     4 bytes
//	d            int32                                     4
//	ntotal       int64                                     8
//	dummy        int64 = 1<<20, twice                      16
//	is_trained   bool                                      1
//	metric_type  int32 (0 inner product, 1 L2)             4
//	codes size   uint64, in floats (WRITEXBVECTOR)         8
//	codes        ntotal*d float32, row-major
//
// (metric types above 1 add a float32 metric_arg before the codes; lsrflow reads and writes
// only inner product and L2.) The vectors start at byte 45, so they are not 4-byte aligned in
// the file.
const (
	flatHeaderSize = 45
	flatDummy      = 1 << 20
	fourccFlatIP   = "IxFI"
	fourccFlatL2   = "IxF2"
)

// flatHeader is the parsed header of a FAISS IndexFlat file.
type flatHeader struct {
	dim    int
	n      int64
	metric Metric
}

// readFlatHeader parses the header of a Flat file of size bytes; ok is false (with a nil
// error) when the file is another index type.
func readFlatHeader(r io.Reader, size int64) (h flatHeader, ok bool, err error) {
	var b [flatHeaderSize]byte
	if _, err := io.ReadFull(r, b[:4]); err != nil {
		return h, false, nil // too short for any index: FAISS will say why
	}
	switch string(b[:4]) {
	case fourccFlatIP:
		h.metric = InnerProduct
	case fourccFlatL2:
		h.metric = L2
	default:
		return h, false, nil
	}
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return h, false, fmt.Errorf("truncated Flat index header: %w", err)
	}
	d := int32(binary.LittleEndian.Uint32(b[4:]))
	h.n = int64(binary.LittleEndian.Uint64(b[8:]))
	mt := int32(binary.LittleEndian.Uint32(b[33:]))
	floats := binary.LittleEndian.Uint64(b[37:])
	if wantMT := map[Metric]int32{InnerProduct: 0, L2: 1}[h.metric]; mt != wantMT {
		return h, false, fmt.Errorf("Flat index header: metric type %d under fourcc %q", mt, b[:4])
	}
	if d <= 0 || h.n < 0 || h.n > math.MaxInt64/int64(d)/4 {
		return h, false, fmt.Errorf("Flat index header: dimension %d, %d vectors", d, h.n)
	}
	h.dim = int(d)
	if floats != uint64(h.n)*uint64(d) {
		return h, false, fmt.Errorf("Flat index header: %d floats stored for %d vectors of dimension %d", floats, h.n, d)
	}
	if want := flatHeaderSize + 4*h.n*int64(d); size != want {
		return h, false, fmt.Errorf("Flat index of %d vectors x %d: file has %d bytes, want %d (truncated?)", h.n, d, size, want)
	}
	return h, true, nil
}

// IsFlatFile reports whether path is a FAISS IndexFlatIP/IndexFlatL2 file (by its fourcc).
func IsFlatFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return string(b[:]) == fourccFlatIP || string(b[:]) == fourccFlatL2
}

func appendFlatHeader(b []byte, dim int, n int64, m Metric) []byte {
	fc, mt := fourccFlatIP, uint32(0)
	if m == L2 {
		fc, mt = fourccFlatL2, 1
	}
	b = append(b, fc...)
	b = binary.LittleEndian.AppendUint32(b, uint32(dim))
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	b = binary.LittleEndian.AppendUint64(b, flatDummy)
	b = binary.LittleEndian.AppendUint64(b, flatDummy)
	b = append(b, 1) // is_trained
	b = binary.LittleEndian.AppendUint32(b, mt)
	return binary.LittleEndian.AppendUint64(b, uint64(n)*uint64(dim))
}

// FlatWriter streams vectors into a FAISS IndexFlat file without holding them in memory: the
// file is the one faiss.write_index writes for an IndexFlatIP/IndexFlatL2 holding the same
// vectors, byte for byte, so faiss-python reads it and Load maps it.
type FlatWriter struct {
	path string
	f    *os.File
	w    *bufio.Writer
	dim  int
	m    Metric
	n    int64
	buf  []byte
	done bool
}

// CreateFlat starts a Flat index file at path (written to path+".tmp", renamed by Close).
func CreateFlat(path string, dim int, m Metric) (*FlatWriter, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("faissx: dimension %d must be positive", dim)
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return nil, fmt.Errorf("faissx: create %s: %w", path, err)
	}
	w := &FlatWriter{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20), dim: dim, m: m}
	if _, err := w.w.Write(appendFlatHeader(nil, dim, 0, m)); err != nil {
		w.Abort()
		return nil, fmt.Errorf("faissx: write %s: %w", path, err)
	}
	return w, nil
}

// Len is the number of vectors added so far.
func (w *FlatWriter) Len() int { return int(w.n) }

// Add appends the rows of v (row-major, dim floats each); their ids continue from Len().
func (w *FlatWriter) Add(v []float32) error {
	if w.done {
		return errors.New("faissx: Add on a closed FlatWriter")
	}
	if len(v) == 0 || len(v)%w.dim != 0 {
		return fmt.Errorf("faissx: add: %d floats is not a positive multiple of dimension %d", len(v), w.dim)
	}
	w.buf = w.buf[:0]
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("faissx: add: non-finite value at row %d", i/w.dim)
		}
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(f))
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("faissx: write %s: %w", w.path, err)
	}
	w.n += int64(len(v) / w.dim)
	return nil
}

// Close writes the final header, syncs and renames the file into place.
func (w *FlatWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	fail := func(err error) error {
		w.f.Close()
		os.Remove(w.f.Name())
		return fmt.Errorf("faissx: write %s: %w", w.path, err)
	}
	if err := w.w.Flush(); err != nil {
		return fail(err)
	}
	if _, err := w.f.WriteAt(appendFlatHeader(nil, w.dim, w.n, w.m), 0); err != nil {
		return fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("faissx: write %s: %w", w.path, err)
	}
	if err := os.Rename(w.f.Name(), w.path); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("faissx: %w", err)
	}
	return nil
}

// Abort discards the file.
func (w *FlatWriter) Abort() {
	if !w.done {
		w.done = true
		w.f.Close()
		os.Remove(w.f.Name())
	}
}
