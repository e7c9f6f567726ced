package bm25

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
)

// Index is an open, memory-mapped BM25 index file. It is immutable and safe for concurrent
// use; Close (or the garbage collector, once the Index is unreachable) unmaps it.
type Index struct {
	m        *mapping
	data     []byte
	h        *header
	an       *analysis.Analyzer // the passages'
	qa       *analysis.Analyzer // the queries' (an unless OpenFileQueries says otherwise)
	model    *model
	postings []byte // includes the trailing padding
	blocks   []byte
	terms    []byte
	vocabOff []byte
	vocab    []byte
	docLens  []byte
	pool     sync.Pool // *searchState
}

// mapping owns the mapped bytes; a cleanup unmaps them when the Index is collected.
type mapping struct {
	mu   sync.Mutex
	data []byte
}

func (m *mapping) unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data = nil
	return err
}

// Hit is one scored document ordinal.
type Hit struct {
	Ord   int
	Score float64
}

// OpenFile maps an index file written by a Writer. Only the header and section bounds are
// checked here; postings are checked as queries read them (a damaged block gives an error,
// never a panic), and Verify checks everything. A file in the format of older lsrflow
// versions gives an error wrapping ErrOldFormat. Queries are analyzed like the passages.
func OpenFile(path string) (*Index, error) { return OpenFileQueries(path, "") }

// OpenFileQueries is OpenFile with queries analyzed by the query analyzer named
// queryAnalyzer (analysis.ForQueries; "" is the index's own).
func OpenFileQueries(path, queryAnalyzer string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	if st.Size() < headerSize {
		// Read what is there so that an old-format or truncated file is named as such.
		b := make([]byte, st.Size())
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("bm25: %s: %w", path, err)
		}
		_, err := newIndex(b, nil, "")
		return nil, fmt.Errorf("bm25: %s: %w", path, err)
	}
	if st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("bm25: %s is too large to map", path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("bm25: mmap %s: %w", path, err)
	}
	m := &mapping{data: data}
	ix, err := newIndex(data, m, queryAnalyzer)
	if err != nil {
		m.unmap()
		return nil, fmt.Errorf("bm25: %s: %w", path, err)
	}
	return ix, nil
}

// Decode opens an index held in memory (tests and fuzzing; OpenFile maps files instead).
func Decode(data []byte) (*Index, error) { return newIndex(data, nil, "") }

func newIndex(data []byte, m *mapping, queryAnalyzer string) (*Index, error) {
	h, err := decodeHeader(data)
	if err != nil {
		return nil, err
	}
	an, err := analysis.ByName(h.analyzer)
	if err != nil {
		return nil, corruptf("%v", err)
	}
	qa, err := analysis.ForQueries(h.analyzer, queryAnalyzer)
	if err != nil {
		return nil, err
	}
	mod, err := newModel(h.scoring, h.params, h.numDocs, h.docsWithTerms, h.totalLen)
	if err != nil {
		return nil, corruptf("%v", err)
	}
	sec := func(i int) []byte { s := h.sections[i]; return data[s[0] : s[0]+s[1] : s[0]+s[1]] }
	ix := &Index{m: m, data: data, h: h, an: an, qa: qa, model: mod,
		postings: sec(secPostings), blocks: sec(secBlocks), terms: sec(secTerms),
		vocabOff: sec(secVocabOff), vocab: sec(secVocab), docLens: sec(secDocLens)}
	if m != nil {
		runtime.AddCleanup(ix, func(m *mapping) { m.unmap() }, m)
	}
	return ix, nil
}

// Close unmaps the file. The Index must not be used afterwards.
func (ix *Index) Close() error {
	if ix.m == nil {
		return nil
	}
	return ix.m.unmap()
}

// Params returns the index's BM25 parameters.
func (ix *Index) Params() Params { return ix.h.params }

// Analyzer is the name of the analyzer the index was built with.
func (ix *Index) Analyzer() string { return ix.h.analyzer }

// QueryAnalyzer is the name of the analyzer queries are analyzed with (Analyzer unless the
// index was opened with OpenFileQueries).
func (ix *Index) QueryAnalyzer() string { return ix.qa.Name() }

// Scoring is the index's scoring variant (ScoringClassic, ScoringLucene, ScoringBM25S).
func (ix *Index) Scoring() uint8 { return ix.h.scoring }

// Version is a digest of the parameters, the analyzer and every (id, contents) indexed.
func (ix *Index) Version() string { return ix.h.version }

// Len is the number of documents.
func (ix *Index) Len() int { return int(ix.h.numDocs) }

// NumTerms is the vocabulary size.
func (ix *Index) NumTerms() int { return int(ix.h.numTerms) }

// NumPostings is the number of (term, document) pairs.
func (ix *Index) NumPostings() int64 { return int64(ix.h.numPostings) }

// AvgDocLen is the mean document length in terms (over every document).
func (ix *Index) AvgDocLen() float64 {
	if ix.h.numDocs == 0 {
		return 0
	}
	return float64(ix.h.totalLen) / float64(ix.h.numDocs)
}

// Terms returns the analyzed terms of a passage text, as the index saw it.
func (ix *Index) Terms(text string) []string { return ix.an.Terms(nil, text, nil) }

// QueryTerms returns the analyzed terms of a query.
func (ix *Index) QueryTerms(text string) []string { return ix.qa.Terms(nil, text, nil) }

func (ix *Index) docLen(d uint32) uint32 {
	return binary.LittleEndian.Uint32(ix.docLens[4*int(d):])
}

// term returns the vocabulary entry t.
func (ix *Index) term(t int) []byte {
	lo := binary.LittleEndian.Uint64(ix.vocabOff[8*t:])
	hi := binary.LittleEndian.Uint64(ix.vocabOff[8*t+8:])
	if lo > hi || hi > uint64(len(ix.vocab)) {
		return nil
	}
	return ix.vocab[lo:hi]
}

// lookup finds a term by binary search over the mapped vocabulary.
func (ix *Index) lookup(term string) (int, bool) {
	lo, hi := 0, int(ix.h.numTerms)
	key := []byte(term)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(ix.term(mid), key) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < int(ix.h.numTerms) && bytes.Equal(ix.term(lo), key) {
		return lo, true
	}
	return 0, false
}

// termInfo is a term's entry with its block range and postings bytes.
type termInfo struct {
	df       uint32
	maxScore float64
	blocks   []byte // its block entries
	data     []byte // from its first block's data to the end of the postings section
	dataLen  int    // bytes of its postings (before the next term's)
}

func (ix *Index) termInfo(t int) (termInfo, error) {
	e := ix.terms[termEntrySize*t:]
	le := binary.LittleEndian
	df := le.Uint32(e)
	maxScore := float64(math.Float32frombits(le.Uint32(e[4:])))
	first, off := le.Uint64(e[8:]), le.Uint64(e[16:])
	end := uint64(len(ix.postings)) - postingsPad
	if t+1 < int(ix.h.numTerms) {
		end = le.Uint64(ix.terms[termEntrySize*(t+1)+16:])
	}
	nb := (uint64(df) + blockSize - 1) / blockSize
	if df == 0 || first > ix.h.numBlocks || nb > ix.h.numBlocks-first || off > end || end > uint64(len(ix.postings))-postingsPad || !(maxScore >= 0) {
		return termInfo{}, corruptf("term %d: bad entry", t)
	}
	return termInfo{df: df, maxScore: maxScore,
		blocks: ix.blocks[first*blockEntrySize : (first+nb)*blockEntrySize],
		data:   ix.postings[off:], dataLen: int(end - off)}, nil
}

// Verify reads the whole index and checks every invariant a query relies on: the vocabulary
// is sorted and valid UTF-8, every term's blocks decode to increasing documents below N, the
// counts add up, and every block's maximum bounds its contributions.
func (ix *Index) Verify() error {
	var prev []byte
	var postings, blocks uint64
	var c cursor
	for t := 0; t < int(ix.h.numTerms); t++ {
		term := ix.term(t)
		if term == nil || (t > 0 && bytes.Compare(prev, term) >= 0) {
			return corruptf("vocabulary not sorted at term %d", t)
		}
		if !utf8.Valid(term) {
			return corruptf("term %d is not UTF-8", t)
		}
		prev = term
		info, err := ix.termInfo(t)
		if err != nil {
			return err
		}
		if t == 0 && binary.LittleEndian.Uint64(ix.terms[8:]) != 0 {
			return corruptf("first term does not start at block 0")
		}
		idf := ix.model.idf(info.df)
		c.reset(ix, info, idf, 1, 0)
		if err := c.first(); err != nil {
			return err
		}
		var n uint32
		for c.doc != noDoc {
			_, _, bmax, _, _, _ := c.blockEntry(c.bi)
			if v := c.contribution(); v > float64(bmax) || v > info.maxScore {
				return corruptf("term %q: block maximum %v below a contribution %v", term, bmax, v)
			}
			n++
			if err := c.next(); err != nil {
				return err
			}
		}
		if n != info.df {
			return corruptf("term %q: %d postings, df %d", term, n, info.df)
		}
		postings += uint64(n)
		blocks += uint64(c.nBlocks)
	}
	if postings != ix.h.numPostings || blocks != ix.h.numBlocks {
		return corruptf("%d postings in %d blocks, header says %d in %d", postings, blocks, ix.h.numPostings, ix.h.numBlocks)
	}
	var total, withTerms uint64
	for d := uint32(0); d < uint32(ix.h.numDocs); d++ {
		l := ix.docLen(d)
		total += uint64(l)
		if l > 0 {
			withTerms++
		}
	}
	if total != ix.h.totalLen || withTerms != ix.h.docsWithTerms {
		return corruptf("document lengths do not add up")
	}
	return nil
}
