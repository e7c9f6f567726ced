package bm25

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
)

// Dir and File locate the index inside an index directory.
const (
	Dir  = "bm25"
	File = "index.bin"
)

// Retriever searches a BM25 index and fetches passages from the index directory's docstore.
// It is safe for concurrent use and valid while the retrieval.Index it was opened on is open.
type Retriever struct {
	idx *Index
	ix  *retrieval.Index
}

var _ retrieval.Retriever = (*Retriever)(nil)

// NewRetriever pairs a BM25 index with the docstore of ix (they must cover the same corpus).
func NewRetriever(idx *Index, ix *retrieval.Index) (*Retriever, error) {
	if idx.Len() != ix.Docs.Len() {
		return nil, fmt.Errorf("bm25: index has %d docs, docstore %d", idx.Len(), ix.Docs.Len())
	}
	return &Retriever{idx: idx, ix: ix}, nil
}

// Open is the retrieval.Opener of method "bm25".
func Open(ctx context.Context, ix *retrieval.Index) (retrieval.Retriever, error) {
	e := ix.Manifest.BM25
	if e == nil {
		return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: "bm25", Hint: "lsrflow index --corpus C.jsonl --out " + ix.Dir}
	}
	idx, err := Load(ix.Path(path.Join(e.Path, File)))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: "bm25", Hint: "lsrflow index --corpus C.jsonl --out " + ix.Dir}
		}
		return nil, err
	}
	return NewRetriever(idx, ix)
}

// Index returns the underlying BM25 index.
func (r *Retriever) Index() *Index { return r.idx }

// Search returns at most k passages, best first, with their BM25 scores.
func (r *Retriever) Search(ctx context.Context, question string, k int) ([]schemas.Passage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hits := r.idx.Search(question, k)
	out := make([]schemas.Passage, len(hits))
	for i, h := range hits {
		p, err := r.ix.Docs.Passage(h.Ord, h.Score)
		if err != nil {
			return nil, fmt.Errorf("bm25: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

// Info names the method and the index version.
func (r *Retriever) Info() schemas.RetrieverInfo {
	return schemas.RetrieverInfo{Method: "bm25", Version: r.idx.Version()}
}

// Step is the retrieval.BuildStep that builds the BM25 index while the corpus is read.
type Step struct {
	b *Builder
}

var _ retrieval.BuildStep = (*Step)(nil)

// NewStep returns a build step with params.
func NewStep(p Params) (*Step, error) {
	b, err := NewBuilder(p)
	if err != nil {
		return nil, err
	}
	return &Step{b: b}, nil
}

// Name is "bm25".
func (s *Step) Name() string { return "bm25" }

// Add indexes one passage.
func (s *Step) Add(ord int, id, contents string) error {
	if ord != s.b.Len() {
		return fmt.Errorf("bm25: passage %d arrived out of order (expected %d)", ord, s.b.Len())
	}
	s.b.Add(id, contents)
	return nil
}

// Finish writes bm25/index.bin and the manifest's bm25 section.
func (s *Step) Finish(ctx context.Context, ix *retrieval.Index, m *retrieval.Manifest) error {
	idx := s.b.Build()
	if err := idx.Save(ix.Path(path.Join(Dir, File))); err != nil {
		return err
	}
	m.BM25 = &retrieval.BM25Entry{
		K1: idx.params.K1, B: idx.params.B, Tokenizer: TokenizerName, Path: Dir,
		Version: idx.Version(), NumTerms: idx.NumTerms(), AvgDocLen: idx.AvgDocLen(),
	}
	return nil
}
