package static

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/embed"
)

// DefaultA is SIF's smoothing constant a in the weight a/(a + p(w)).
const DefaultA = 1e-3

// Tokenize lowercases text and splits it into maximal runs of letters and digits (the
// tokenization SIF uses for both counting and embedding).
func Tokenize(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// eachToken calls fn with every token of Tokenize(text), in order, without allocating for
// ASCII text: the token bytes are lowercased into buf (returned for reuse) and valid only
// during the call. Non-ASCII text goes through Tokenize itself.
func eachToken(text string, buf []byte, fn func(tok []byte)) []byte {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			for _, t := range Tokenize(text) {
				buf = append(buf[:0], t...)
				fn(buf)
			}
			return buf
		}
	}
	buf = buf[:0]
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			buf = append(buf, c)
			continue
		case 'A' <= c && c <= 'Z':
			buf = append(buf, c+'a'-'A')
			continue
		}
		if len(buf) > 0 {
			fn(buf)
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		fn(buf)
	}
	return buf
}

// SIF is a fitted smooth-inverse-frequency sentence embedder (Arora, Liang, Ma 2017): the
// a/(a+p(w))-weighted mean of the word vectors of a text, minus its projection on the first
// principal component of the corpus embeddings, L2-normalized. p(w) is the word's frequency
// in the corpus it was fitted on. A fitted SIF is immutable and safe for concurrent use.
type SIF struct {
	vec     *Vectors
	vecName string
	a       float64
	counts  map[string]int64
	total   int64
	weight  []float32 // per vocabulary row
	pc      []float64 // unit first principal component, or nil
	name    string
}

// FitOptions configure Fit.
type FitOptions struct {
	// A is the SIF constant (DefaultA when 0).
	A float64
	// NoPC skips the removal of the first principal component.
	NoPC bool
	// VectorsName names the word vectors in Name() (e.g. "glove.6B.100d").
	VectorsName string
}

// Fit counts word frequencies over corpus, embeds the corpus and computes the first principal
// component of those embeddings (power iteration in float64).
func Fit(ctx context.Context, vec *Vectors, corpus []string, opt FitOptions) (*SIF, error) {
	return FitSeq(ctx, vec, func(yield func(string) error) error {
		for _, t := range corpus {
			if err := yield(t); err != nil {
				return err
			}
		}
		return nil
	}, opt)
}

// FitSeq is Fit over a corpus that is streamed rather than held in memory: corpus calls yield
// once per text, in a stable order, and is called twice (counting, then the principal
// component, which accumulates the d x d matrix X^T X instead of keeping X).
func FitSeq(ctx context.Context, vec *Vectors, corpus func(yield func(text string) error) error, opt FitOptions) (*SIF, error) {
	st, err := NewStats(vec, 0, 0)
	if err != nil {
		return nil, err
	}
	err = corpus(func(text string) error {
		if st.texts%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		st.Add(text)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: fit: %w", err)
	}
	texts := st.texts
	s, err := st.fitCounts(opt)
	if err != nil {
		return nil, err
	}
	if !opt.NoPC {
		var acc Gram
		acc.Init(vec.Dim())
		var n int64
		err := corpus(func(text string) error {
			if n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			acc.Add(s.weightedMean(text))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("static: fit: %w", err)
		}
		if n != texts {
			return nil, fmt.Errorf("static: fit: the corpus yielded %d texts, then %d", texts, n)
		}
		s.pc = acc.TopEigenvector()
	}
	s.name = s.computeName()
	return s, nil
}

// Stats gathers SIF's corpus statistics in one streaming pass over the texts: the token
// counts of the words that have vectors, the total token count (every token counts toward
// p(w)), and a uniform sample of at most Sample texts (reservoir sampling with a fixed seed,
// so the same corpus in the same order gives the same sample) from which Fit computes the
// principal component. Memory is one counter per vocabulary row plus the sample, whatever
// the size of the corpus. Not safe for concurrent use.
type Stats struct {
	vec    *Vectors
	counts []int64 // per vocabulary row
	total  int64   // all tokens, with or without a vector
	texts  int64
	sample []string
	limit  int
	rng    uint64
	buf    []byte
}

// NewStats starts the statistics of a corpus over vec, keeping a sample of at most sample
// texts (0: none) drawn with seed.
func NewStats(vec *Vectors, sample int, seed uint64) (*Stats, error) {
	if vec == nil || vec.Len() == 0 {
		return nil, errors.New("static: fit: no word vectors")
	}
	return &Stats{vec: vec, counts: make([]int64, vec.Len()), limit: max(sample, 0), rng: seed*0x9e3779b97f4a7c15 + 1}, nil
}

// Add counts one text and offers it to the sample.
func (st *Stats) Add(text string) {
	st.buf = eachToken(text, st.buf, func(tok []byte) {
		st.total++
		if row := st.vec.lookupBytes(tok); row >= 0 {
			st.counts[row]++
		}
	})
	st.texts++
	if st.limit == 0 {
		return
	}
	if len(st.sample) < st.limit {
		st.sample = append(st.sample, text)
		return
	}
	// Algorithm R: text number t (1-based) replaces a random slot with probability limit/t.
	if j := st.next() % uint64(st.texts); j < uint64(st.limit) {
		st.sample[j] = text
	}
}

// next is splitmix64.
func (st *Stats) next() uint64 {
	st.rng += 0x9e3779b97f4a7c15
	z := st.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Texts is the number of texts added.
func (st *Stats) Texts() int64 { return st.texts }

// Fit fits SIF on the counts, with the principal component of the sampled texts' weighted
// means (all texts when the corpus has at most Sample of them: then Fit equals FitSeq).
func (st *Stats) Fit(ctx context.Context, opt FitOptions) (*SIF, error) {
	s, err := st.fitCounts(opt)
	if err != nil {
		return nil, err
	}
	if !opt.NoPC {
		var acc Gram
		acc.Init(st.vec.Dim())
		for i, text := range st.sample {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("static: fit: %w", err)
				}
			}
			acc.Add(s.weightedMean(text))
		}
		s.pc = acc.TopEigenvector()
		s.name = s.computeName()
	}
	return s, nil
}

func (st *Stats) fitCounts(opt FitOptions) (*SIF, error) {
	if opt.A == 0 {
		opt.A = DefaultA
	}
	if !(opt.A > 0) || math.IsInf(opt.A, 0) {
		return nil, fmt.Errorf("static: fit: a = %g must be positive", opt.A)
	}
	if st.texts == 0 {
		return nil, errors.New("static: fit: empty corpus")
	}
	counts := map[string]int64{}
	for row, c := range st.counts {
		if c > 0 {
			counts[st.vec.Word(row)] += c
		}
	}
	return newSIF(st.vec, opt.VectorsName, opt.A, counts, st.total, nil)
}

func newSIF(vec *Vectors, vecName string, a float64, counts map[string]int64, total int64, pc []float64) (*SIF, error) {
	if total <= 0 {
		return nil, errors.New("static: the corpus has no tokens")
	}
	if vecName == "" {
		vecName = fmt.Sprintf("vectors-%08x", vec.Checksum())
	}
	s := &SIF{vec: vec, vecName: vecName, a: a, counts: counts, total: total, pc: pc}
	s.weight = make([]float32, vec.Len())
	for i := range s.weight {
		s.weight[i] = 1 // p(w) = 0 for words the corpus never uses
	}
	for w, c := range counts {
		if c < 0 || c > total {
			return nil, fmt.Errorf("static: count %d of %q is outside [0, %d]", c, w, total)
		}
		if row := vec.Lookup(w); row >= 0 {
			s.weight[row] = float32(a / (a + float64(c)/float64(total)))
		}
	}
	s.name = s.computeName()
	return s, nil
}

// weightedMean is the SIF weighted average of the in-vocabulary tokens of text, in float64
// (zero when no token is in the vocabulary).
func (s *SIF) weightedMean(text string) []float64 {
	d := s.vec.Dim()
	out := make([]float64, d)
	n := 0
	var buf [256]byte
	eachToken(text, buf[:0], func(tok []byte) {
		row := s.vec.lookupBytes(tok)
		if row < 0 {
			return
		}
		w := float64(s.weight[row])
		for j, x := range s.vec.Row(row) {
			out[j] += w * float64(x)
		}
		n++
	})
	if n > 0 {
		for j := range out {
			out[j] /= float64(n)
		}
	}
	return out
}

// Vector embeds one text.
func (s *SIF) Vector(text string) []float32 {
	v := s.weightedMean(text)
	if s.pc != nil {
		var dot float64
		for j, p := range s.pc {
			dot += v[j] * p
		}
		for j, p := range s.pc {
			v[j] -= dot * p
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, len(v))
	if norm > 0 {
		inv := 1 / math.Sqrt(norm)
		for j, x := range v {
			out[j] = float32(x * inv)
		}
	}
	return out
}

// Embed implements embed.Embedder. SIF is symmetric: kind is ignored. Vectors are unit length
// (zero for a text with no known word).
func (s *SIF) Embed(ctx context.Context, texts []string, _ embed.Kind) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = s.Vector(t)
	}
	return out, nil
}

// Dim implements embed.Embedder.
func (s *SIF) Dim() int { return s.vec.Dim() }

// Name implements embed.Embedder: the vectors, a, and a digest of the fitted state.
func (s *SIF) Name() string { return s.name }

// Weight returns the SIF weight of word (1 for words the corpus never used; 0 when the word
// has no vector).
func (s *SIF) Weight(word string) float64 {
	row := s.vec.Lookup(word)
	if row < 0 {
		return 0
	}
	return float64(s.weight[row])
}

// PrincipalComponent returns a copy of the removed component (nil when none).
func (s *SIF) PrincipalComponent() []float64 {
	if s.pc == nil {
		return nil
	}
	return append([]float64(nil), s.pc...)
}

func (s *SIF) computeName() string {
	h := sha256.New()
	words := make([]string, 0, len(s.counts))
	for w := range s.counts {
		words = append(words, w)
	}
	sort.Strings(words)
	var b []byte
	for _, w := range words {
		b = append(b[:0], w...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(s.counts[w]))
		h.Write(b)
	}
	for _, p := range s.pc {
		h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(p)))
	}
	return fmt.Sprintf("%s+sif(a=%g,fit=%s)", s.vecName, s.a, hex.EncodeToString(h.Sum(nil))[:12])
}

// Gram accumulates the d x d matrix X^T X of the rows added to it, in float64.
type Gram struct {
	d int
	c []float64
}

// Init sizes the accumulator for rows of length d and clears it.
func (g *Gram) Init(d int) {
	g.d = d
	g.c = make([]float64, d*d)
}

// Add accumulates one row (len d).
func (g *Gram) Add(row []float64) {
	d := g.d
	for a, xa := range row[:d] {
		if xa == 0 {
			continue
		}
		ca := g.c[a*d : (a+1)*d]
		for b, xb := range row[:d] {
			ca[b] += xa * xb
		}
	}
}

// TopEigenvector returns the unit eigenvector of the largest eigenvalue of the accumulated
// matrix by power iteration, signed so that its largest-magnitude coordinate is positive;
// nil when the matrix is zero.
func (g *Gram) TopEigenvector() []float64 {
	d, C := g.d, g.c
	if d == 0 {
		return nil
	}
	// Start from the column norms (a deterministic vector with a component along the top
	// eigenvector of any non-zero positive semi-definite C).
	v := make([]float64, d)
	for a := range d {
		v[a] = math.Sqrt(C[a*d+a]) + 1e-3*float64(a+1)/float64(d)
	}
	if !normalize64(v) {
		return nil
	}
	var trace float64
	for a := range d {
		trace += C[a*d+a]
	}
	if trace == 0 {
		return nil
	}
	w := make([]float64, d)
	for range 10000 {
		for a := range d {
			var s float64
			ca := C[a*d : (a+1)*d]
			for b, vb := range v {
				s += ca[b] * vb
			}
			w[a] = s
		}
		if !normalize64(w) {
			return nil
		}
		var diff float64
		for a := range d {
			diff = math.Max(diff, math.Abs(w[a]-v[a]))
		}
		v, w = w, v
		if diff < 1e-13 {
			break
		}
	}
	big := 0
	for a := range v {
		if math.Abs(v[a]) > math.Abs(v[big]) {
			big = a
		}
	}
	if v[big] < 0 {
		for a := range v {
			v[a] = -v[a]
		}
	}
	return v
}

// FirstPrincipalComponent returns the unit top right-singular vector of the n x d row-major
// matrix X (uncentered, as in SIF): the top eigenvector of X^T X (see Gram.TopEigenvector).
func FirstPrincipalComponent(X []float64, d int) []float64 {
	if d <= 0 || len(X) < d {
		return nil
	}
	var g Gram
	g.Init(d)
	for i := 0; i+d <= len(X); i += d {
		g.Add(X[i : i+d])
	}
	return g.TopEigenvector()
}

func normalize64(v []float64) bool {
	var s float64
	for _, x := range v {
		s += x * x
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] *= inv
	}
	return true
}

// savedSIF is the JSON form of a fitted SIF (sif.json in an index directory).
type savedSIF struct {
	Format        string           `json:"format"`
	Vectors       string           `json:"vectors"`
	VectorsSum    string           `json:"vectors_crc32"`
	Dim           int              `json:"dim"`
	A             float64          `json:"a"`
	TotalTokens   int64            `json:"total_tokens"`
	PC            []float64        `json:"principal_component,omitempty"`
	Counts        map[string]int64 `json:"counts"`
	Name          string           `json:"name"`
	Tokenizer     string           `json:"tokenizer"`
	WordsInCorpus int              `json:"words_in_corpus"`
	WordsWithVecs int              `json:"words_with_vectors"`
}

const (
	sifFormat    = "lsrflow-sif/1"
	sifTokenizer = "lowercase-letter-digit-runs"
)

// Save writes the fitted state (corpus word counts, a, principal component and the identity
// of the word vectors) as JSON. The word vectors themselves are not copied.
func (s *SIF) Save(path string) error {
	with := 0
	for w := range s.counts {
		if s.vec.Lookup(w) >= 0 {
			with++
		}
	}
	st := savedSIF{
		Format: sifFormat, Vectors: s.vecName, VectorsSum: fmt.Sprintf("%08x", s.vec.Checksum()),
		Dim: s.vec.Dim(), A: s.a, TotalTokens: s.total, PC: s.pc, Counts: s.counts, Name: s.name,
		Tokenizer: sifTokenizer, WordsInCorpus: len(s.counts), WordsWithVecs: with,
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("static: save sif: %w", err)
	}
	tmp := path + ".part"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("static: save sif: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("static: save sif: %w", err)
	}
	return nil
}

// LoadSIF reads a state written by Save and binds it to vec, which must be the same word
// vectors it was fitted with (checked by checksum).
func LoadSIF(path string, vec *Vectors) (*SIF, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	var st savedSIF
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("static: %s: %w", path, err)
	}
	if st.Format != sifFormat || st.Tokenizer != sifTokenizer {
		return nil, fmt.Errorf("static: %s: format %q/%q, want %q/%q", path, st.Format, st.Tokenizer, sifFormat, sifTokenizer)
	}
	if got := fmt.Sprintf("%08x", vec.Checksum()); got != st.VectorsSum || st.Dim != vec.Dim() {
		return nil, fmt.Errorf("static: %s was fitted with vectors %s (crc %s, dim %d), given crc %s dim %d",
			path, st.Vectors, st.VectorsSum, st.Dim, got, vec.Dim())
	}
	if !(st.A > 0) {
		return nil, fmt.Errorf("static: %s: a = %g must be positive", path, st.A)
	}
	if st.PC != nil && len(st.PC) != vec.Dim() {
		return nil, fmt.Errorf("static: %s: principal component has %d values, want %d", path, len(st.PC), vec.Dim())
	}
	s, err := newSIF(vec, st.Vectors, st.A, st.Counts, st.TotalTokens, st.PC)
	if err != nil {
		return nil, fmt.Errorf("static: %s: %w", path, err)
	}
	if st.Name != "" && st.Name != s.name {
		return nil, fmt.Errorf("static: %s: state digest %q does not match its content %q", path, st.Name, s.name)
	}
	return s, nil
}
