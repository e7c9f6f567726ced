package train

import (
	"context"
	"errors"
	"fmt"

	"github.com/lsrflow/lsrflow/embed"
)

// VectorSource gives the index's passage vectors by ordinal (retrieval/faissx.Index
// satisfies it through Reconstruct: the trainer never re-embeds the corpus).
type VectorSource interface {
	Dim() int
	Len() int
	// Reconstruct writes the vectors of rows ords into dst (len(ords)*Dim() floats).
	Reconstruct(ords []int64, dst []float32) error
}

// DocIndex maps passage ids to index ordinals (retrieval/docstore.Reader satisfies it).
type DocIndex interface {
	Len() int
	Ordinal(id string) (int, bool)
}

// Matrix is an in-memory VectorSource (tests, small corpora): Data holds Len()*D floats.
type Matrix struct {
	D    int
	Data []float32
}

// Dim is the vector length.
func (m *Matrix) Dim() int { return m.D }

// Len is the number of rows.
func (m *Matrix) Len() int { return len(m.Data) / m.D }

// Reconstruct copies rows ords into dst.
func (m *Matrix) Reconstruct(ords []int64, dst []float32) error {
	if len(dst) != len(ords)*m.D {
		return fmt.Errorf("train: dst holds %d floats, want %d", len(dst), len(ords)*m.D)
	}
	for i, o := range ords {
		if o < 0 || int(o) >= m.Len() {
			return fmt.Errorf("train: row %d out of range", o)
		}
		copy(dst[i*m.D:(i+1)*m.D], m.Data[int(o)*m.D:int(o+1)*m.D])
	}
	return nil
}

// Passages is a reference-counted cache of the passage vectors the trainer uses: those of
// the dataset's candidates, the negative pool and mined negatives, fetched from the index by
// ordinal in batches. Its memory follows the training records, not the corpus: a row whose
// last user releases it is reused. Passages met in records but absent from the index are
// embedded from the record's text and cached under their id. Not safe for concurrent use.
type Passages struct {
	D int
	// Corpus is the number of passages in the index.
	Corpus int
	src    VectorSource
	docs   DocIndex
	vecs   []float32 // row-major, D floats per row
	refs   []int32
	free   []int32
	byOrd  map[int64]int32
	byID   map[string]int32 // passages absent from the index
	keyOrd []int64          // per row: its ordinal, or -1 for a byID row
	keyID  []string
}

// NewPassages returns an empty cache over the index's vectors src and its docstore docs.
func NewPassages(src VectorSource, docs DocIndex) (*Passages, error) {
	if src == nil || src.Dim() <= 0 {
		return nil, errors.New("train: a vector source is required")
	}
	if docs != nil && docs.Len() != src.Len() {
		return nil, fmt.Errorf("train: the index holds %d vectors, the docstore %d passages", src.Len(), docs.Len())
	}
	return &Passages{D: src.Dim(), Corpus: src.Len(), src: src, docs: docs, byOrd: map[int64]int32{}, byID: map[string]int32{}}, nil
}

// Rows is the number of row slots (live and free); Live the number in use.
func (p *Passages) Rows() int { return len(p.refs) }

// Live is the number of rows in use.
func (p *Passages) Live() int { return len(p.refs) - len(p.free) }

// Vecs is the row table (row r at [r*D, (r+1)*D)); valid until the next Acquire.
func (p *Passages) Vecs() []float32 { return p.vecs }

// Row returns row r (aliases the table).
func (p *Passages) Row(r int32) []float32 { return p.vecs[int(r)*p.D : int(r+1)*p.D] }

// Ordinal returns the index ordinal of passage id (false when the index has no such id).
func (p *Passages) Ordinal(id string) (int64, bool) {
	if p.docs == nil {
		return 0, false
	}
	o, ok := p.docs.Ordinal(id)
	return int64(o), ok
}

func (p *Passages) slot() int32 {
	if n := len(p.free); n > 0 {
		r := p.free[n-1]
		p.free = p.free[:n-1]
		return r
	}
	p.refs = append(p.refs, 0)
	p.keyOrd = append(p.keyOrd, -1)
	p.keyID = append(p.keyID, "")
	p.vecs = append(p.vecs, make([]float32, p.D)...)
	return int32(len(p.refs) - 1)
}

// Acquire returns the rows of index ordinals ords (one reference each), fetching the
// vectors not cached yet with one Reconstruct call.
func (p *Passages) Acquire(ords []int64) ([]int32, error) {
	rows := make([]int32, len(ords))
	var missing []int64
	slot := map[int64]int{} // a missing ordinal's position in missing
	for i, o := range ords {
		if o < 0 || int(o) >= p.Corpus {
			return nil, fmt.Errorf("train: passage ordinal %d out of range [0, %d)", o, p.Corpus)
		}
		if r, ok := p.byOrd[o]; ok {
			rows[i] = r
			continue
		}
		j, ok := slot[o]
		if !ok {
			j = len(missing)
			slot[o] = j
			missing = append(missing, o)
		}
		rows[i] = int32(-1 - j) // resolved below
	}
	if len(missing) > 0 {
		buf := make([]float32, len(missing)*p.D)
		if err := p.src.Reconstruct(missing, buf); err != nil {
			return nil, fmt.Errorf("train: passage vectors from the index: %w", err)
		}
		newRows := make([]int32, len(missing))
		for j, o := range missing {
			r := p.slot()
			copy(p.Row(r), buf[j*p.D:(j+1)*p.D])
			p.byOrd[o], p.keyOrd[r], p.keyID[r] = r, o, ""
			newRows[j] = r
		}
		for i, r := range rows {
			if r < 0 {
				rows[i] = newRows[-1-int(r)]
			}
		}
	}
	for _, r := range rows {
		p.refs[r]++
	}
	return rows, nil
}

// AcquireExtra returns rows for passages absent from the index, embedding (kind Passage) the
// texts of ids not cached yet with emb.
func (p *Passages) AcquireExtra(ctx context.Context, emb embed.Embedder, ids, texts []string) ([]int32, error) {
	rows := make([]int32, len(ids))
	var newIDs, newTexts []string
	pending := map[string]bool{}
	for i, id := range ids {
		if r, ok := p.byID[id]; ok {
			rows[i] = r
		} else if !pending[id] {
			pending[id] = true
			newIDs, newTexts = append(newIDs, id), append(newTexts, texts[i])
		}
	}
	if len(newTexts) > 0 {
		if emb == nil {
			return nil, errors.New("train: passages absent from the index need an embedder")
		}
		vecs, err := emb.Embed(ctx, newTexts, embed.Passage)
		if err != nil {
			return nil, fmt.Errorf("train: embed passages: %w", err)
		}
		if len(vecs) != len(newTexts) {
			return nil, fmt.Errorf("train: embedder returned %d vectors for %d passages", len(vecs), len(newTexts))
		}
		for j, v := range vecs {
			if len(v) != p.D {
				return nil, fmt.Errorf("train: passage vector of %d dimensions, want %d", len(v), p.D)
			}
			r := p.slot()
			copy(p.Row(r), v)
			p.byID[newIDs[j]], p.keyOrd[r], p.keyID[r] = r, -1, newIDs[j]
		}
		for i, id := range ids {
			rows[i] = p.byID[id]
		}
	}
	for _, r := range rows {
		p.refs[r]++
	}
	return rows, nil
}

// Release drops one reference to each row; a row nobody holds is freed for reuse.
func (p *Passages) Release(rows []int32) {
	for _, r := range rows {
		if p.refs[r] <= 0 {
			panic(fmt.Sprintf("train: row %d released more often than acquired", r))
		}
		p.refs[r]--
		if p.refs[r] == 0 {
			if o := p.keyOrd[r]; o >= 0 {
				delete(p.byOrd, o)
			} else {
				delete(p.byID, p.keyID[r])
			}
			p.keyOrd[r], p.keyID[r] = -1, ""
			p.free = append(p.free, r)
		}
	}
}

// RowOrdinal returns the index ordinal of row r (-1 for a passage absent from the index).
func (p *Passages) RowOrdinal(r int32) int64 { return p.keyOrd[r] }
