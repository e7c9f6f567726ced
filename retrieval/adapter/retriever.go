package adapter

import (
	"context"
	"errors"
	"fmt"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
)

// Retriever is a dense retriever with one fixed adapter. It is immutable and safe for
// concurrent use; a new adapter version means a new Retriever (swap it in with
// processors/retrieve.Processor.Swap).
type Retriever struct {
	base *dense.Retriever
	a    *Linear
	info schemas.RetrieverInfo
}

var _ retrieval.BatchRetriever = (*Retriever)(nil)

// NewRetriever pairs base (which must not have an adapter of its own) with a (nil: none).
func NewRetriever(base *dense.Retriever, a *Linear) (*Retriever, error) {
	if base == nil {
		return nil, errors.New("adapter: a base dense retriever is required")
	}
	if base.Adapter() != nil {
		return nil, errors.New("adapter: the base retriever already has an adapter")
	}
	info := base.Info()
	if a != nil {
		if err := a.Check(base.Embedder().Name(), base.Embedder().Dim()); err != nil {
			return nil, err
		}
		info.Version += "+adapter:" + a.Version()
	}
	return &Retriever{base: base, a: a, info: info}, nil
}

// Base is the underlying dense retriever.
func (r *Retriever) Base() *dense.Retriever { return r.base }

// Adapter is the fixed adapter (nil: none).
func (r *Retriever) Adapter() *Linear { return r.a }

// Info is the base retriever's info with "+adapter:<version>" appended (dense's own format).
func (r *Retriever) Info() schemas.RetrieverInfo { return r.info }

// Search returns the top k passages of question.
func (r *Retriever) Search(ctx context.Context, question string, k int) ([]schemas.Passage, error) {
	out, err := r.SearchBatch(ctx, []string{question}, k)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// SearchBatch embeds the questions, applies the adapter and searches the base index.
func (r *Retriever) SearchBatch(ctx context.Context, questions []string, k int) ([][]schemas.Passage, error) {
	if k <= 0 {
		return nil, fmt.Errorf("adapter: k = %d must be positive", k)
	}
	if len(questions) == 0 {
		return [][]schemas.Passage{}, nil
	}
	vecs, err := r.base.Embedder().Embed(ctx, questions, embed.Query)
	if err != nil {
		return nil, fmt.Errorf("adapter: embed queries: %w", err)
	}
	if r.a != nil {
		for i, v := range vecs {
			vecs[i] = r.a.Apply(v)
		}
	}
	return r.base.SearchVectors(ctx, vecs, k)
}
