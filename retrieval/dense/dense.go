package dense

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
	"github.com/lsrflow/lsrflow/schemas"
)

// Method is the retrieval method name.
const Method = "dense"

// QueryAdapter transforms a query vector before the index search (e.g. a learned linear map).
// Apply must not modify its argument and must be safe for concurrent use.
type QueryAdapter interface {
	Apply(v []float32) []float32
	Version() string
}

// Docs is the passage store (retrieval/docstore.Reader satisfies it).
type Docs interface {
	Len() int
	Passage(ord int, score float64) (schemas.Passage, error)
}

// Retriever is a dense retriever. See the package documentation.
type Retriever struct {
	emb     embed.Embedder
	idx     *faissx.Index
	docs    Docs
	base    string
	adapter atomic.Pointer[adapterBox]
	ownsEmb bool // Close releases the embedder (set by Open)
}

type adapterBox struct{ a QueryAdapter }

var _ retrieval.BatchRetriever = (*Retriever)(nil)

// New pairs an embedder, a FAISS index over its passage vectors and the docstore. version
// names the index (stamped into Info().Version after the embedder name); it may be "".
func New(emb embed.Embedder, idx *faissx.Index, docs Docs, version string) (*Retriever, error) {
	if emb == nil || idx == nil || docs == nil {
		return nil, errors.New("dense: embedder, index and docstore are required")
	}
	if emb.Dim() != idx.Dim() {
		return nil, fmt.Errorf("dense: embedder %s has dimension %d, the index %d", emb.Name(), emb.Dim(), idx.Dim())
	}
	if idx.Len() != docs.Len() {
		return nil, fmt.Errorf("dense: index holds %d vectors, the docstore %d passages", idx.Len(), docs.Len())
	}
	base := emb.Name()
	if version != "" {
		base += "@" + version
	}
	return &Retriever{emb: emb, idx: idx, docs: docs, base: base}, nil
}

// SetAdapter installs a (nil removes the adapter). Safe while searches run.
func (r *Retriever) SetAdapter(a QueryAdapter) {
	if a == nil {
		r.adapter.Store(nil)
		return
	}
	r.adapter.Store(&adapterBox{a})
}

// Adapter returns the current adapter (nil when none).
func (r *Retriever) Adapter() QueryAdapter {
	if b := r.adapter.Load(); b != nil {
		return b.a
	}
	return nil
}

// Embedder returns the query embedder.
func (r *Retriever) Embedder() embed.Embedder { return r.emb }

// Index returns the FAISS index.
func (r *Retriever) Index() *faissx.Index { return r.idx }

func (r *Retriever) info(b *adapterBox) schemas.RetrieverInfo {
	v := r.base
	if b != nil {
		v += "+adapter:" + b.a.Version()
	}
	return schemas.RetrieverInfo{Method: Method, Version: v}
}

// Info names the method, the embedder, the index and the current adapter.
func (r *Retriever) Info() schemas.RetrieverInfo { return r.info(r.adapter.Load()) }

// Search returns the top k passages of question.
func (r *Retriever) Search(ctx context.Context, question string, k int) ([]schemas.Passage, error) {
	out, _, err := r.SearchInfo(ctx, []string{question}, k)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// SearchBatch embeds all questions at once and searches them in one FAISS call.
func (r *Retriever) SearchBatch(ctx context.Context, questions []string, k int) ([][]schemas.Passage, error) {
	out, _, err := r.SearchInfo(ctx, questions, k)
	return out, err
}

// SearchInfo is SearchBatch that also returns the retriever info (adapter version included)
// that produced the results, consistent even when the adapter is swapped concurrently.
func (r *Retriever) SearchInfo(ctx context.Context, questions []string, k int) ([][]schemas.Passage, schemas.RetrieverInfo, error) {
	box := r.adapter.Load()
	info := r.info(box)
	if k <= 0 {
		return nil, info, fmt.Errorf("dense: k = %d must be positive", k)
	}
	if len(questions) == 0 {
		return [][]schemas.Passage{}, info, nil
	}
	vecs, err := r.emb.Embed(ctx, questions, embed.Query)
	if err != nil {
		return nil, info, fmt.Errorf("dense: embed queries: %w", err)
	}
	if len(vecs) != len(questions) {
		return nil, info, fmt.Errorf("dense: embedder returned %d vectors for %d queries", len(vecs), len(questions))
	}
	var adapter QueryAdapter
	if box != nil {
		adapter = box.a
	}
	out, err := r.searchVectors(ctx, vecs, k, adapter)
	return out, info, err
}

// SearchVectors searches with query vectors the caller embedded (the current adapter is
// applied to them first).
func (r *Retriever) SearchVectors(ctx context.Context, vecs [][]float32, k int) ([][]schemas.Passage, error) {
	if k <= 0 {
		return nil, fmt.Errorf("dense: k = %d must be positive", k)
	}
	return r.searchVectors(ctx, vecs, k, r.Adapter())
}

func (r *Retriever) searchVectors(ctx context.Context, vecs [][]float32, k int, a QueryAdapter) ([][]schemas.Passage, error) {
	if len(vecs) == 0 {
		return [][]schemas.Passage{}, nil
	}
	d := r.idx.Dim()
	flat := make([]float32, 0, len(vecs)*d)
	for i, v := range vecs {
		if a != nil {
			v = a.Apply(v)
		}
		if len(v) != d {
			return nil, fmt.Errorf("dense: query %d has %d dimensions, the index %d", i, len(v), d)
		}
		flat = append(flat, v...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hits, err := r.idx.Search(flat, min(k, max(r.idx.Len(), 1)))
	if err != nil {
		return nil, fmt.Errorf("dense: %w", err)
	}
	out := make([][]schemas.Passage, len(hits))
	for q, hs := range hits {
		ps := make([]schemas.Passage, 0, len(hs))
		for _, h := range hs {
			p, err := r.docs.Passage(int(h.ID), float64(h.Score))
			if err != nil {
				return nil, fmt.Errorf("dense: passage %d: %w", h.ID, err)
			}
			ps = append(ps, p)
		}
		out[q] = ps
	}
	return out, nil
}

// Close frees the FAISS index, and the embedder when Open created it (the docstore belongs
// to the caller).
func (r *Retriever) Close() error {
	err := r.idx.Close()
	if r.ownsEmb {
		if c, ok := r.emb.(interface{ Close() error }); ok {
			err = errors.Join(err, c.Close())
		}
	}
	return err
}

// PassageVectors embeds every passage of the docstore (kind Passage) with the retriever's
// embedder, in ordinal order, batch passages at a time: the document side a query adapter is
// trained against (whole-corpus negatives). The result is row-major, Dim() floats per passage.
func (r *Retriever) PassageVectors(ctx context.Context, batch int) ([]float32, error) {
	if batch <= 0 {
		batch = 256
	}
	n, d := r.docs.Len(), r.emb.Dim()
	out := make([]float32, 0, n*d)
	texts := make([]string, 0, batch)
	for lo := 0; lo < n; lo += batch {
		texts = texts[:0]
		for i := lo; i < min(n, lo+batch); i++ {
			p, err := r.docs.Passage(i, 0)
			if err != nil {
				return nil, fmt.Errorf("dense: passage %d: %w", i, err)
			}
			texts = append(texts, p.Contents)
		}
		vecs, err := r.emb.Embed(ctx, texts, embed.Passage)
		if err != nil {
			return nil, fmt.Errorf("dense: embed passages from %d: %w", lo, err)
		}
		if len(vecs) != len(texts) {
			return nil, fmt.Errorf("dense: embedder returned %d vectors for %d passages", len(vecs), len(texts))
		}
		for i, v := range vecs {
			if len(v) != d {
				return nil, fmt.Errorf("dense: passage %d: %d dimensions, want %d", lo+i, len(v), d)
			}
			out = append(out, v...)
		}
	}
	return out, nil
}
