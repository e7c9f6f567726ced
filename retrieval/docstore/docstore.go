package docstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/lsrflow/lsrflow/schemas"
)

// File names inside a store directory.
const (
	ContentsFile = "contents.bin"
	IDsFile      = "ids.bin"
	OffsetsFile  = "offsets.bin"
)

const (
	magic      = "LSRDOCS1"
	headerSize = 16
)

// ErrClosed is returned by reads on a closed Reader.
var ErrClosed = errors.New("docstore: closed")

// Writer appends passages to a new store. It is not safe for concurrent use. Its memory does
// not grow with the store: offsets go to temporary files as passages are added, and Finish
// holds only the id order (4 bytes per passage) while it sorts.
type Writer struct {
	dir            string
	cf, idf        *os.File
	cw, iw         *bufio.Writer
	cof, iof       *os.File // temporary offset files: n+1 uint64 each
	cow, iow       *bufio.Writer
	n              int
	clast, ilast   uint64
	finished       bool
	duplicateIDs   int
	scratch        [8]byte
	contentsOffTmp string
	idsOffTmp      string
}

// Temporary offset files of an unfinished store.
const (
	contentsOffsetsTmp = "offsets.contents.tmp"
	idsOffsetsTmp      = "offsets.ids.tmp"
)

// Create starts a new store in dir (created if needed; existing store files are replaced).
func Create(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("docstore: create %s: %w", dir, err)
	}
	_ = os.Remove(filepath.Join(dir, OffsetsFile)) // marks the store unfinished until Finish
	w := &Writer{dir: dir, contentsOffTmp: filepath.Join(dir, contentsOffsetsTmp), idsOffTmp: filepath.Join(dir, idsOffsetsTmp)}
	var err error
	for _, f := range []struct {
		file **os.File
		path string
	}{{&w.cf, filepath.Join(dir, ContentsFile)}, {&w.idf, filepath.Join(dir, IDsFile)}, {&w.cof, w.contentsOffTmp}, {&w.iof, w.idsOffTmp}} {
		if *f.file, err = os.Create(f.path); err != nil {
			w.Abort()
			return nil, fmt.Errorf("docstore: %w", err)
		}
	}
	w.cw, w.iw = bufio.NewWriterSize(w.cf, 1<<20), bufio.NewWriterSize(w.idf, 256<<10)
	w.cow, w.iow = bufio.NewWriterSize(w.cof, 256<<10), bufio.NewWriterSize(w.iof, 256<<10)
	if err := w.putOffsets(); err != nil { // the leading 0s
		w.Abort()
		return nil, err
	}
	return w, nil
}

func (w *Writer) putOffsets() error {
	binary.LittleEndian.PutUint64(w.scratch[:], w.clast)
	if _, err := w.cow.Write(w.scratch[:]); err != nil {
		return fmt.Errorf("docstore: write offsets: %w", err)
	}
	binary.LittleEndian.PutUint64(w.scratch[:], w.ilast)
	if _, err := w.iow.Write(w.scratch[:]); err != nil {
		return fmt.Errorf("docstore: write offsets: %w", err)
	}
	return nil
}

// Add appends one passage and returns its ordinal.
func (w *Writer) Add(id, contents string) (int, error) {
	if w.finished {
		return 0, errors.New("docstore: Add after Finish")
	}
	n := w.n
	if n >= math.MaxUint32-1 {
		return 0, errors.New("docstore: more than 2^32-2 passages")
	}
	if _, err := w.cw.WriteString(contents); err != nil {
		return 0, fmt.Errorf("docstore: write contents: %w", err)
	}
	if _, err := w.iw.WriteString(id); err != nil {
		return 0, fmt.Errorf("docstore: write id: %w", err)
	}
	w.clast += uint64(len(contents))
	w.ilast += uint64(len(id))
	if err := w.putOffsets(); err != nil {
		return 0, err
	}
	w.n++
	return n, nil
}

// Len is the number of passages added so far.
func (w *Writer) Len() int { return w.n }

// DuplicateIDs is the number of passages whose id an earlier passage already had (known
// after Finish).
func (w *Writer) DuplicateIDs() int { return w.duplicateIDs }

// Finish flushes the data files, sorts the ids and writes offsets.bin atomically.
func (w *Writer) Finish() error {
	if w.finished {
		return nil
	}
	for _, f := range []struct {
		b *bufio.Writer
		f *os.File
	}{{w.cw, w.cf}, {w.iw, w.idf}, {w.cow, w.cof}, {w.iow, w.iof}} {
		if err := f.b.Flush(); err != nil {
			w.Abort()
			return fmt.Errorf("docstore: flush %s: %w", f.f.Name(), err)
		}
	}
	for _, f := range []*os.File{w.cf, w.idf} {
		if err := f.Sync(); err != nil {
			w.Abort()
			return fmt.Errorf("docstore: sync %s: %w", f.Name(), err)
		}
	}
	w.finished = true
	defer w.removeTemps()
	for _, f := range []*os.File{w.cf, w.idf, w.cof, w.iof} {
		if err := f.Close(); err != nil {
			return fmt.Errorf("docstore: close %s: %w", f.Name(), err)
		}
	}
	n := w.n
	idm, err := mapFile(filepath.Join(w.dir, IDsFile))
	if err != nil {
		return err
	}
	defer unmap(idm)
	ioff, err := mapFile(w.idsOffTmp)
	if err != nil {
		return err
	}
	defer unmap(ioff)
	idAt := func(i uint32) []byte { lo, hi := span(ioff, int(i)); return idm[lo:hi] }
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	sort.SliceStable(order, func(a, b int) bool { return bytes.Compare(idAt(order[a]), idAt(order[b])) < 0 })
	for i := 1; i < n; i++ {
		if bytes.Equal(idAt(order[i-1]), idAt(order[i])) {
			w.duplicateIDs++
		}
	}
	return writeAtomic(filepath.Join(w.dir, OffsetsFile), func(out io.Writer) error {
		var hdr [headerSize]byte
		copy(hdr[:], magic)
		binary.LittleEndian.PutUint64(hdr[8:], uint64(n))
		if _, err := out.Write(hdr[:]); err != nil {
			return err
		}
		for _, p := range []string{w.contentsOffTmp, w.idsOffTmp} {
			if err := appendFile(out, p); err != nil {
				return err
			}
		}
		var b [4]byte
		for _, o := range order {
			binary.LittleEndian.PutUint32(b[:], o)
			if _, err := out.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

func appendFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func (w *Writer) removeTemps() {
	os.Remove(w.contentsOffTmp)
	os.Remove(w.idsOffTmp)
}

// Abort closes the files without finishing; the store stays unreadable.
func (w *Writer) Abort() {
	w.finished = true
	for _, f := range []*os.File{w.cf, w.idf, w.cof, w.iof} {
		if f != nil {
			f.Close()
		}
	}
	w.removeTemps()
}

// writeAtomic writes path through a temporary file that write fills (buffered), synced and
// renamed into place.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return fmt.Errorf("docstore: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("docstore: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("docstore: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("docstore: close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	return nil
}

// Reader reads a finished store through read-only memory mappings.
type Reader struct {
	mu                     sync.RWMutex
	closed                 bool
	dir                    string
	contents, ids, offsets []byte // the mappings (nil for empty files)
	n                      int
	coff, ioff, sorted     []byte // views into offsets
}

// Open maps the store in dir and checks that its files are consistent.
func Open(dir string) (*Reader, error) {
	offPath := filepath.Join(dir, OffsetsFile)
	if _, err := os.Stat(offPath); err != nil {
		return nil, fmt.Errorf("docstore: %s is not a finished passage store: %w", dir, err)
	}
	r := &Reader{dir: dir}
	var err error
	if r.offsets, err = mapFile(offPath); err != nil {
		return nil, err
	}
	if r.contents, err = mapFile(filepath.Join(dir, ContentsFile)); err != nil {
		r.release()
		return nil, err
	}
	if r.ids, err = mapFile(filepath.Join(dir, IDsFile)); err != nil {
		r.release()
		return nil, err
	}
	if err := r.check(); err != nil {
		r.release()
		return nil, fmt.Errorf("docstore: %s: %w", dir, err)
	}
	return r, nil
}

// check validates the header, the sizes and that every offset is in range and monotonic, so
// later reads cannot slice out of bounds.
func (r *Reader) check() error {
	o := r.offsets
	if len(o) < headerSize || string(o[:8]) != magic {
		return errors.New("offsets.bin has a bad header")
	}
	n64 := binary.LittleEndian.Uint64(o[8:16])
	if n64 >= math.MaxUint32 || uint64(len(o)) != headerSize+16*(n64+1)+4*n64 {
		return fmt.Errorf("offsets.bin has %d bytes, which does not fit %d passages", len(o), n64)
	}
	n := int(n64)
	r.n = n
	r.coff = o[headerSize : headerSize+8*(n+1)]
	r.ioff = o[headerSize+8*(n+1) : headerSize+16*(n+1)]
	r.sorted = o[headerSize+16*(n+1):]
	for _, f := range []struct {
		name string
		offs []byte
		size int
	}{{ContentsFile, r.coff, len(r.contents)}, {IDsFile, r.ioff, len(r.ids)}} {
		prev := uint64(0)
		if binary.LittleEndian.Uint64(f.offs) != 0 {
			return fmt.Errorf("%s offsets do not start at 0", f.name)
		}
		for i := 1; i <= n; i++ {
			v := binary.LittleEndian.Uint64(f.offs[8*i:])
			if v < prev {
				return fmt.Errorf("%s offsets decrease at passage %d", f.name, i-1)
			}
			prev = v
		}
		if prev != uint64(f.size) {
			return fmt.Errorf("%s has %d bytes, offsets say %d", f.name, f.size, prev)
		}
	}
	for i := 0; i < n; i++ {
		if binary.LittleEndian.Uint32(r.sorted[4*i:]) >= uint32(n) {
			return errors.New("id index points past the last passage")
		}
	}
	return nil
}

// Len is the number of passages.
func (r *Reader) Len() int { return r.n }

func span(offs []byte, i int) (uint64, uint64) {
	return binary.LittleEndian.Uint64(offs[8*i:]), binary.LittleEndian.Uint64(offs[8*i+8:])
}

func (r *Reader) idBytes(i int) []byte {
	lo, hi := span(r.ioff, i)
	return r.ids[lo:hi]
}

func (r *Reader) checkOrd(ord int) error {
	if r.closed {
		return ErrClosed
	}
	if ord < 0 || ord >= r.n {
		return fmt.Errorf("docstore: ordinal %d out of range [0,%d)", ord, r.n)
	}
	return nil
}

// Doc returns the id and contents of passage ord.
func (r *Reader) Doc(ord int) (id, contents string, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.checkOrd(ord); err != nil {
		return "", "", err
	}
	lo, hi := span(r.coff, ord)
	return string(r.idBytes(ord)), string(r.contents[lo:hi]), nil
}

// ID returns the id of passage ord.
func (r *Reader) ID(ord int) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.checkOrd(ord); err != nil {
		return "", err
	}
	return string(r.idBytes(ord)), nil
}

// Passage returns passage ord as a schemas.Passage with the given score.
func (r *Reader) Passage(ord int, score float64) (schemas.Passage, error) {
	id, c, err := r.Doc(ord)
	if err != nil {
		return schemas.Passage{}, err
	}
	return schemas.Passage{ID: id, Contents: c, Score: score}, nil
}

// AppendContents appends the contents of passage ord to dst, for callers that reuse a buffer
// (tokenizers, embedders streaming the corpus).
func (r *Reader) AppendContents(dst []byte, ord int) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.checkOrd(ord); err != nil {
		return dst, err
	}
	lo, hi := span(r.coff, ord)
	return append(dst, r.contents[lo:hi]...), nil
}

// Scan calls fn with the contents of passages lo..hi-1 in ordinal order. It reads the contents
// file sequentially with buffered reads instead of through the mapping, so that a pass over
// a large store (an index build embedding every passage) does not leave the whole file
// resident in this process: the pages stay in the kernel's page cache, which it can drop.
// contents is valid only during the call; fn's error stops the scan and is returned.
func (r *Reader) Scan(ctx context.Context, lo, hi int, fn func(ord int, contents []byte) error) error {
	r.mu.RLock()
	closed, n := r.closed, r.n
	r.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if lo < 0 || hi > n || lo > hi {
		return fmt.Errorf("docstore: scan range [%d,%d) outside [0,%d)", lo, hi, n)
	}
	if lo == hi {
		return nil
	}
	f, err := os.Open(filepath.Join(r.dir, ContentsFile))
	if err != nil {
		return fmt.Errorf("docstore: scan: %w", err)
	}
	defer f.Close()
	start, _ := r.contentSpan(lo)
	if _, err := f.Seek(int64(start), io.SeekStart); err != nil {
		return fmt.Errorf("docstore: scan: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	for ord := lo; ord < hi; ord++ {
		if ord%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		a, b := r.contentSpan(ord)
		if b < a {
			return ErrClosed // span reports a closed store as an empty inverted range
		}
		if uint64(cap(buf)) < b-a {
			buf = make([]byte, b-a)
		}
		buf = buf[:b-a]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("docstore: scan passage %d: %w", ord, err)
		}
		if err := fn(ord, buf); err != nil {
			return err
		}
	}
	return nil
}

// contentSpan returns the content offsets of passage ord under the read lock (hi < lo once closed).
func (r *Reader) contentSpan(ord int) (lo, hi uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 1, 0
	}
	return span(r.coff, ord)
}

// Ordinal returns the ordinal of the passage with the given id (the first one when the id is
// duplicated), by binary search over the sorted id index. It reports false when there is no
// such passage or the Reader is closed.
func (r *Reader) Ordinal(id string) (int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return -1, false
	}
	key := []byte(id)
	at := func(i int) int { return int(binary.LittleEndian.Uint32(r.sorted[4*i:])) }
	i := sort.Search(r.n, func(i int) bool { return bytes.Compare(r.idBytes(at(i)), key) >= 0 })
	if i < r.n && bytes.Equal(r.idBytes(at(i)), key) {
		return at(i), true
	}
	return -1, false
}

// Close unmaps the files. Reads after Close return ErrClosed.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.release()
}

func (r *Reader) release() error {
	var errs []error
	for _, m := range []*[]byte{&r.contents, &r.ids, &r.offsets} {
		errs = append(errs, unmap(*m))
		*m = nil
	}
	r.coff, r.ioff, r.sorted = nil, nil, nil
	return errors.Join(errs...)
}

// mapFile maps path read-only; an empty file maps to nil (mmap rejects length 0).
func mapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return nil, nil
	}
	if size != int64(int(size)) {
		return nil, fmt.Errorf("docstore: %s is too large to map", path)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("docstore: mmap %s: %w", path, err)
	}
	return b, nil
}

func unmap(b []byte) error {
	if b == nil {
		return nil
	}
	if err := syscall.Munmap(b); err != nil {
		return fmt.Errorf("docstore: munmap: %w", err)
	}
	return nil
}
