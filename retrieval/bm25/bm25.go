package bm25

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// TokenizerName identifies Tokenize in manifests and digests.
const TokenizerName = "lower-alnum"

// Params are the BM25 parameters.
type Params struct {
	K1 float64 `json:"k1"`
	B  float64 `json:"b"`
}

// DefaultParams are Pyserini's BM25 defaults.
func DefaultParams() Params { return Params{K1: 0.9, B: 0.4} }

// Validate checks the ranges in which BM25 is defined.
func (p Params) Validate() error {
	if !(p.K1 >= 0) || math.IsInf(p.K1, 0) {
		return fmt.Errorf("bm25: k1 must be a finite number >= 0, got %v", p.K1)
	}
	if !(p.B >= 0 && p.B <= 1) {
		return fmt.Errorf("bm25: b must be in [0,1], got %v", p.B)
	}
	return nil
}

// Tokenize splits s into lowercase runs of Unicode letters and digits.
func Tokenize(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, strings.ToLower(s[start:]))
	}
	return out
}

// Index is a built or loaded BM25 index. It is immutable and safe for concurrent use.
type Index struct {
	params  Params
	version string
	n       int
	avgdl   float64
	terms   []string          // by term id
	vocab   map[string]uint32 // term -> id
	start   []uint64          // postings of term t: [start[t], start[t+1])
	docs    []uint32          // posting doc ordinals, ascending within a term
	tfs     []uint32
	docLen  []uint32
	// derived on build/load
	idf  []float64 // per term
	norm []float64 // per doc: k1 * (1 - b + b*|d|/avgdl)
	pool sync.Pool // *accumulator
}

// Hit is one scored document ordinal.
type Hit struct {
	Ord   int
	Score float64
}

// Builder accumulates documents in ordinal order.
type Builder struct {
	params   Params
	postings map[string]*termPostings
	docLen   []uint32
	digest   hashWriter
	counts   map[string]uint32 // scratch
}

type termPostings struct {
	docs, tfs []uint32
}

type hashWriter interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// NewBuilder starts an index with params.
func NewBuilder(p Params) (*Builder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b := &Builder{params: p, postings: map[string]*termPostings{}, digest: sha256.New(), counts: map[string]uint32{}}
	fmt.Fprintf(b.digest, "bm25 k1=%v b=%v tok=%s\n", p.K1, p.B, TokenizerName)
	return b, nil
}

// Add indexes the next document; its ordinal is the number of documents added before it.
func (b *Builder) Add(id, contents string) {
	ord := uint32(len(b.docLen))
	toks := Tokenize(contents)
	clear(b.counts)
	for _, t := range toks {
		b.counts[t]++
	}
	for t, c := range b.counts {
		p := b.postings[t]
		if p == nil {
			p = &termPostings{}
			b.postings[t] = p
		}
		p.docs = append(p.docs, ord)
		p.tfs = append(p.tfs, c)
	}
	b.docLen = append(b.docLen, uint32(len(toks)))
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], uint64(len(id)))
	binary.LittleEndian.PutUint64(lens[8:], uint64(len(contents)))
	b.digest.Write(lens[:])
	b.digest.Write([]byte(id))
	b.digest.Write([]byte(contents))
}

// Len is the number of documents added.
func (b *Builder) Len() int { return len(b.docLen) }

// Build finishes the index. Terms are numbered in sorted order, so the same corpus gives the
// same file.
func (b *Builder) Build() *Index {
	terms := make([]string, 0, len(b.postings))
	for t := range b.postings {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	ix := &Index{params: b.params, n: len(b.docLen), terms: terms, docLen: b.docLen,
		version: hex.EncodeToString(b.digest.Sum(nil)[:8])}
	ix.start = make([]uint64, len(terms)+1)
	for i, t := range terms {
		ix.start[i+1] = ix.start[i] + uint64(len(b.postings[t].docs))
	}
	ix.docs = make([]uint32, 0, ix.start[len(terms)])
	ix.tfs = make([]uint32, 0, ix.start[len(terms)])
	for _, t := range terms {
		p := b.postings[t]
		ix.docs = append(ix.docs, p.docs...)
		ix.tfs = append(ix.tfs, p.tfs...)
	}
	ix.derive()
	return ix
}

// derive computes the vocabulary map, idf and length norms.
func (ix *Index) derive() {
	ix.vocab = make(map[string]uint32, len(ix.terms))
	for i, t := range ix.terms {
		ix.vocab[t] = uint32(i)
	}
	total := 0.0
	for _, l := range ix.docLen {
		total += float64(l)
	}
	ix.avgdl = 0
	if ix.n > 0 {
		ix.avgdl = total / float64(ix.n)
	}
	ix.idf = make([]float64, len(ix.terms))
	N := float64(ix.n)
	for t := range ix.terms {
		df := float64(ix.start[t+1] - ix.start[t])
		ix.idf[t] = math.Log(1 + (N-df+0.5)/(df+0.5))
	}
	ix.norm = make([]float64, ix.n)
	k1, b := ix.params.K1, ix.params.B
	for d, l := range ix.docLen {
		rel := 1.0
		if ix.avgdl > 0 {
			rel = float64(l) / ix.avgdl
		}
		ix.norm[d] = k1 * (1 - b + b*rel)
	}
	n := ix.n
	ix.pool.New = func() any { return &accumulator{scores: make([]float64, n)} }
}

// Params returns the index's parameters.
func (ix *Index) Params() Params { return ix.params }

// Version is a digest of the parameters, the tokenizer and every (id, contents) indexed.
func (ix *Index) Version() string { return ix.version }

// Len is the number of documents.
func (ix *Index) Len() int { return ix.n }

// NumTerms is the vocabulary size.
func (ix *Index) NumTerms() int { return len(ix.terms) }

// AvgDocLen is the mean document length in tokens.
func (ix *Index) AvgDocLen() float64 { return ix.avgdl }

// accumulator holds per-query scores; pooled so that a large corpus does not allocate an
// N-sized array per query.
type accumulator struct {
	scores  []float64
	touched []uint32
}

// Search returns the top-k documents for query, best first (see the package doc for the
// formula, ties and the no-known-token case).
func (ix *Index) Search(query string, k int) []Hit {
	if k <= 0 || ix.n == 0 {
		return nil
	}
	acc := ix.pool.Get().(*accumulator)
	defer func() {
		for _, d := range acc.touched {
			acc.scores[d] = 0
		}
		acc.touched = acc.touched[:0]
		ix.pool.Put(acc)
	}()
	k1p1 := ix.params.K1 + 1
	for _, tok := range Tokenize(query) {
		t, ok := ix.vocab[tok]
		if !ok {
			continue
		}
		idf := ix.idf[t]
		for p := ix.start[t]; p < ix.start[t+1]; p++ {
			d := ix.docs[p]
			tf := float64(ix.tfs[p])
			if acc.scores[d] == 0 {
				acc.touched = append(acc.touched, d)
			}
			acc.scores[d] += idf * tf * k1p1 / (tf + ix.norm[d])
		}
	}
	h := make(hitHeap, 0, min(k, len(acc.touched)))
	for _, d := range acc.touched {
		hit := Hit{Ord: int(d), Score: acc.scores[d]}
		if len(h) < k {
			heap.Push(&h, hit)
		} else if better(hit, h[0]) {
			h[0] = hit
			heap.Fix(&h, 0)
		}
	}
	out := make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(Hit)
	}
	return out
}

// better orders hits: higher score first, then lower ordinal.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Ord < b.Ord
}

// hitHeap is a min-heap: the worst kept hit at the root.
type hitHeap []Hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(Hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// errCorrupt is wrapped by Load for a malformed file.
var errCorrupt = errors.New("bm25: corrupt index file")

func validUTF8Terms(terms []string) bool {
	for _, t := range terms {
		if !utf8.ValidString(t) {
			return false
		}
	}
	return true
}
