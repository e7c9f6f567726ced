package train

import (
	"context"
	"fmt"

	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
	"github.com/lsrflow/lsrflow/schemas"
)

// IDer names a passage by index ordinal (retrieval/docstore.Reader satisfies it).
type IDer interface {
	ID(ord int) (string, error)
}

// DenseIDs searches a FAISS index and names hits by passage id only. Training and evaluation
// rank by ids and scores; reading every hit's text, as the dense retriever does for serving,
// would page the docstore's contents into memory for nothing.
type DenseIDs struct {
	Index *faissx.Index
	Docs  IDer
}

// SearchVectors implements DenseSearcher with one batched index search.
func (s DenseIDs) SearchVectors(ctx context.Context, vecs [][]float32, k int) ([][]schemas.Passage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(vecs) == 0 {
		return [][]schemas.Passage{}, nil
	}
	d := s.Index.Dim()
	flat := make([]float32, 0, len(vecs)*d)
	for i, v := range vecs {
		if len(v) != d {
			return nil, fmt.Errorf("train: query %d has %d dimensions, the index %d", i, len(v), d)
		}
		flat = append(flat, v...)
	}
	hits, err := s.Index.Search(flat, min(k, max(s.Index.Len(), 1)))
	if err != nil {
		return nil, err
	}
	return named(hits, s.Docs, func(h faissx.Hit) (int, float64) { return int(h.ID), float64(h.Score) })
}

// LexicalIDs searches a BM25 index and names hits by passage id only (see DenseIDs).
type LexicalIDs struct {
	Index *bm25.Index
	Docs  IDer
}

// Search implements Lexical.
func (s LexicalIDs) Search(ctx context.Context, question string, k int) ([]schemas.Passage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hits, err := s.Index.Search(question, k)
	if err != nil {
		return nil, err
	}
	out, err := named([][]bm25.Hit{hits}, s.Docs, func(h bm25.Hit) (int, float64) { return h.Ord, h.Score })
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func named[H any](hits [][]H, docs IDer, at func(H) (int, float64)) ([][]schemas.Passage, error) {
	out := make([][]schemas.Passage, len(hits))
	for q, hs := range hits {
		ps := make([]schemas.Passage, len(hs))
		for i, h := range hs {
			ord, score := at(h)
			id, err := docs.ID(ord)
			if err != nil {
				return nil, fmt.Errorf("train: passage %d: %w", ord, err)
			}
			ps[i] = schemas.Passage{ID: id, Score: score}
		}
		out[q] = ps
	}
	return out, nil
}
