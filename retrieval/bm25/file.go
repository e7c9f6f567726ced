package bm25

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

const fileMagic = "LSRBM25\x01"

// Save writes the index to path atomically (temp file + rename).
func (ix *Index) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := ix.encode(w); err != nil {
		tmp.Close()
		return fmt.Errorf("bm25: write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("bm25: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("bm25: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bm25: close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	return nil
}

func (ix *Index) encode(w io.Writer) error {
	le := binary.LittleEndian
	var b []byte
	b = append(b, fileMagic...)
	b = le.AppendUint64(b, math.Float64bits(ix.params.K1))
	b = le.AppendUint64(b, math.Float64bits(ix.params.B))
	b = le.AppendUint64(b, uint64(ix.n))
	b = le.AppendUint64(b, uint64(len(ix.terms)))
	b = le.AppendUint64(b, uint64(len(ix.docs)))
	b = le.AppendUint32(b, uint32(len(ix.version)))
	b = append(b, ix.version...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	for t, term := range ix.terms {
		b = b[:0]
		b = le.AppendUint32(b, uint32(len(term)))
		b = append(b, term...)
		b = le.AppendUint32(b, uint32(ix.start[t+1]-ix.start[t]))
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	for _, arr := range [][]uint32{ix.docs, ix.tfs, ix.docLen} {
		if err := writeU32s(w, arr); err != nil {
			return err
		}
	}
	return nil
}

func writeU32s(w io.Writer, a []uint32) error {
	buf := make([]byte, 0, 64<<10)
	for i, v := range a {
		buf = binary.LittleEndian.AppendUint32(buf, v)
		if len(buf) == cap(buf) || i == len(a)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// Load reads an index written by Save, checking every count and bound so that a damaged file
// gives an error, never a panic or a huge allocation.
func Load(path string) (*Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	ix, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("bm25: %s: %w", path, err)
	}
	return ix, nil
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated", errCorrupt)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *byteReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *byteReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *byteReader) u32s(n uint64) []uint32 {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b))/4 {
		r.err = fmt.Errorf("%w: truncated", errCorrupt)
		return nil
	}
	b := r.take(4 * n)
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func decode(data []byte) (*Index, error) {
	r := &byteReader{b: data}
	if string(r.take(uint64(len(fileMagic)))) != fileMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	ix := &Index{}
	ix.params.K1 = math.Float64frombits(r.u64())
	ix.params.B = math.Float64frombits(r.u64())
	n, nterms, npost := r.u64(), r.u64(), r.u64()
	ix.version = string(r.take(uint64(r.u32())))
	if r.err != nil {
		return nil, r.err
	}
	if err := ix.params.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	// Each term takes >= 8 bytes, each posting 8, each doc 4: reject counts the file cannot hold.
	rest := uint64(len(r.b))
	if n > math.MaxUint32 || nterms > rest/8 || npost > rest/8 || n > rest/4 {
		return nil, fmt.Errorf("%w: counts exceed the file size", errCorrupt)
	}
	ix.n = int(n)
	ix.terms = make([]string, nterms)
	ix.start = make([]uint64, nterms+1)
	for t := range ix.terms {
		ix.terms[t] = string(r.take(uint64(r.u32())))
		ix.start[t+1] = ix.start[t] + uint64(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		if t > 0 && ix.terms[t] <= ix.terms[t-1] {
			return nil, fmt.Errorf("%w: vocabulary not sorted", errCorrupt)
		}
	}
	if ix.start[nterms] != npost {
		return nil, fmt.Errorf("%w: document frequencies sum to %d, want %d postings", errCorrupt, ix.start[nterms], npost)
	}
	ix.docs = r.u32s(npost)
	ix.tfs = r.u32s(npost)
	ix.docLen = r.u32s(n)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(r.b))
	}
	if !validUTF8Terms(ix.terms) {
		return nil, fmt.Errorf("%w: a term is not valid UTF-8", errCorrupt)
	}
	for t := range ix.terms {
		prev := int64(-1)
		for p := ix.start[t]; p < ix.start[t+1]; p++ {
			if int64(ix.docs[p]) <= prev || uint64(ix.docs[p]) >= n || ix.tfs[p] == 0 {
				return nil, fmt.Errorf("%w: bad posting of term %q", errCorrupt, ix.terms[t])
			}
			prev = int64(ix.docs[p])
		}
	}
	ix.derive()
	return ix, nil
}
