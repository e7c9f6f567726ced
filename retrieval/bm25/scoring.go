package bm25

import (
	"fmt"
	"math"
	mbits "math/bits"

	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
)

// Params are the BM25 parameters.
type Params struct {
	K1 float64 `json:"k1"`
	B  float64 `json:"b"`
}

// DefaultParams are the defaults of the plain analyzer (Pyserini's k1 = 0.9, b = 0.4).
func DefaultParams() Params { return Params{K1: 0.9, B: 0.4} }

// DefaultParamsFor returns the defaults of the backend an analyzer reproduces: bm25s' BM25()
// uses k1 = 1.5, b = 0.75; Pyserini's LuceneSearcher k1 = 0.9, b = 0.4.
func DefaultParamsFor(analyzer string) Params {
	if analyzer == analysis.BM25S {
		return Params{K1: 1.5, B: 0.75}
	}
	return DefaultParams()
}

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

// Scoring variants (stored in the index file; the numbers are part of the format).
const (
	// ScoringClassic: idf * tf*(k1+1) / (tf + k1*(1-b+b*|d|/avgdl)) in float64, with
	// idf = ln(1 + (N-df+0.5)/(df+0.5)). lsrflow's original formula (plain analyzer).
	ScoringClassic uint8 = 1
	// ScoringLucene: Lucene's BM25Similarity (8.0 and later) as Pyserini runs it: the same idf,
	// without the (k1+1) factor, computed in float32 the way BM25Scorer does, with the
	// document length rounded to Lucene's one-byte norm (SmallFloat.intToByte4) and N, avgdl
	// counted over the documents that have at least one term. A document's score is the
	// float32 rounding of the float64 sum of its terms' float32 scores.
	ScoringLucene uint8 = 2
	// ScoringBM25S: bm25s' default method "lucene" (bm25s/scoring.py): the same idf and
	// idf * tf / (tf + k1*(1-b+b*|d|/avgdl)), in float64 here (bm25s stores float32).
	ScoringBM25S uint8 = 3
)

// ScoringFor is the scoring variant of an analyzer's backend.
func ScoringFor(analyzer string) uint8 {
	switch analyzer {
	case analysis.BM25S:
		return ScoringBM25S
	case analysis.Lucene:
		return ScoringLucene
	}
	return ScoringClassic
}

// ScoringName names a scoring variant for manifests and messages.
func ScoringName(s uint8) string {
	switch s {
	case ScoringClassic:
		return "classic"
	case ScoringLucene:
		return "lucene"
	case ScoringBM25S:
		return "bm25s"
	}
	return fmt.Sprintf("unknown(%d)", s)
}

// model evaluates one term's contribution to a document's score.
type model struct {
	kind      uint8
	k1, b     float64
	n         float64 // documents counted for idf
	avgdl     float64
	lucNormIn [256]float32 // Lucene: 1 / (k1*((1-b) + b*len/avgdl)) per norm byte
}

func newModel(kind uint8, p Params, numDocs, docsWithTerms, totalLen uint64) (*model, error) {
	m := &model{kind: kind, k1: p.K1, b: p.B}
	switch kind {
	case ScoringClassic, ScoringBM25S:
		m.n = float64(numDocs)
		if numDocs > 0 {
			m.avgdl = float64(totalLen) / float64(numDocs)
		}
	case ScoringLucene:
		m.n = float64(docsWithTerms)
		if docsWithTerms > 0 {
			m.avgdl = float64(float32(float64(totalLen) / float64(docsWithTerms)))
		}
		k1, b, avg := float32(p.K1), float32(p.B), float32(m.avgdl)
		for i := range m.lucNormIn {
			l := float32(byte4ToInt(byte(i)))
			m.lucNormIn[i] = 1 / (k1 * ((1 - b) + b*l/avg))
		}
	default:
		return nil, fmt.Errorf("unknown scoring variant %d", kind)
	}
	return m, nil
}

// idf is ln(1 + (N - df + 0.5)/(df + 0.5)); Lucene rounds it to float32.
func (m *model) idf(df uint32) float64 {
	v := math.Log(1 + (m.n-float64(df)+0.5)/(float64(df)+0.5))
	if m.kind == ScoringLucene {
		return float64(float32(v))
	}
	return v
}

// weight is a query term's weight: its idf times the number of times it occurs in the query.
// Lucene multiplies in float32 (a repeated SHOULD clause becomes one clause whose boost is the
// count: BooleanQuery.rewrite, then BM25Similarity's weight = boost * idf).
func (m *model) weight(idf float64, count int) float64 {
	if m.kind == ScoringLucene {
		return float64(float32(count) * float32(idf))
	}
	return float64(count) * idf
}

// score is the contribution of a query term of weight w (from m.weight) occurring tf times in
// a document of dl terms. It increases with tf and decreases with dl.
func (m *model) score(w float64, tf, dl uint32) float64 {
	switch m.kind {
	case ScoringLucene:
		w32 := float32(w)
		normInv := m.lucNormIn[intToByte4(dl)]
		return float64(w32 - w32/(1+float32(tf)*normInv))
	case ScoringBM25S:
		f := float64(tf)
		return w * f / (f + m.norm(dl))
	default:
		f := float64(tf)
		return w * f * (m.k1 + 1) / (f + m.norm(dl))
	}
}

func (m *model) norm(dl uint32) float64 {
	rel := 1.0
	if m.avgdl > 0 {
		rel = float64(dl) / m.avgdl
	}
	return m.k1 * (1 - m.b + m.b*rel)
}

// finish turns the float64 sum of a document's contributions into its score.
func (m *model) finish(sum float64) float64 {
	if m.kind == ScoringLucene {
		return float64(float32(sum))
	}
	return sum
}

// Lucene's SmallFloat.intToByte4/byte4ToInt: lengths below 24 are exact, larger ones keep 4
// significant bits.
const numFreeValues = 255 - 231 // 255 - longToInt4(Integer.MAX_VALUE)

func longToInt4(i uint64) uint32 {
	bits := 64 - mbits.LeadingZeros64(i)
	if bits < 4 {
		return uint32(i)
	}
	shift := bits - 4
	enc := uint32(i>>uint(shift)) & 0x07
	return enc | uint32(shift+1)<<3
}

func int4ToLong(i uint32) uint64 {
	bits := uint64(i & 0x07)
	shift := int(i>>3) - 1
	if shift == -1 {
		return bits
	}
	return (bits | 0x08) << uint(shift)
}

func intToByte4(i uint32) uint8 {
	if i < numFreeValues {
		return uint8(i)
	}
	return uint8(numFreeValues + longToInt4(uint64(i-numFreeValues)))
}

func byte4ToInt(b uint8) uint32 {
	if uint32(b) < numFreeValues {
		return uint32(b)
	}
	return numFreeValues + uint32(int4ToLong(uint32(b)-numFreeValues))
}
