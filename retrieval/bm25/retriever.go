package bm25

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
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

// rebuildHint is the command that rebuilds ix (with its corpus when the manifest names it).
func rebuildHint(ix *retrieval.Index) string {
	corpus := ix.Manifest.Corpus.Path
	if corpus == "" {
		corpus = "C.jsonl"
	}
	return "lsrflow index --corpus " + corpus + " --out " + ix.Dir
}

// Open is the retrieval.Opener of method "bm25". Queries are analyzed as the manifest's
// query_analyzer says (like the passages when it is empty).
func Open(ctx context.Context, ix *retrieval.Index) (retrieval.Retriever, error) {
	e := ix.Manifest.BM25
	if e == nil {
		return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: "bm25", Hint: rebuildHint(ix)}
	}
	idx, err := OpenFileQueries(ix.Path(path.Join(e.Path, File)), e.QueryAnalyzer)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: "bm25", Hint: rebuildHint(ix)}
		}
		if errors.Is(err, ErrOldFormat) {
			return nil, fmt.Errorf("index %s: its BM25 index was written by an older lsrflow in a format this version does not read; re-index with %s", ix.Dir, rebuildHint(ix))
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
	hits, err := r.idx.Search(question, k)
	if err != nil {
		return nil, err
	}
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

// Info names the method and the index version, with "+queries:NAME" when queries are not
// analyzed like the passages (other candidates from the same index).
func (r *Retriever) Info() schemas.RetrieverInfo {
	v := r.idx.Version()
	if q := r.idx.QueryAnalyzer(); q != r.idx.Analyzer() {
		v += "+queries:" + q
	}
	return schemas.RetrieverInfo{Method: "bm25", Version: v}
}

// Step is the retrieval.BuildStep that builds the BM25 index while the corpus is read.
type Step struct {
	o     Options
	w     *Writer
	Stats Stats // filled by Finish
}

var _ retrieval.BuildStep = (*Step)(nil)

// NewStep returns a build step with params and the plain analyzer.
func NewStep(p Params) (*Step, error) { return NewStepOptions(Options{Params: p}) }

// NewStepOptions returns a build step with o. The index file is written in Finish; runs are
// spilled to o.TempDir meanwhile (callers set it inside the index directory).
func NewStepOptions(o Options) (*Step, error) {
	if o.Analyzer == "" {
		o.Analyzer = analysis.Plain
	}
	if _, err := analysis.ByName(o.Analyzer); err != nil {
		return nil, err
	}
	if _, err := analysis.ForQueries(o.Analyzer, o.QueryAnalyzer); err != nil {
		return nil, err
	}
	if o.QueryAnalyzer == o.Analyzer {
		o.QueryAnalyzer = ""
	}
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	return &Step{o: o}, nil
}

// Name is "bm25".
func (s *Step) Name() string { return "bm25" }

// Add indexes one passage.
func (s *Step) Add(ord int, id, contents string) error {
	if s.w == nil {
		w, err := NewWriter(s.o)
		if err != nil {
			return err
		}
		s.w = w
	}
	if ord != s.w.Len() {
		return fmt.Errorf("bm25: passage %d arrived out of order (expected %d)", ord, s.w.Len())
	}
	return s.w.Add(id, contents)
}

// Abort stops a build that will not finish (retrieval.Aborter) and removes its runs.
func (s *Step) Abort() {
	if s.w != nil {
		s.w.Abort()
	}
}

var _ retrieval.Aborter = (*Step)(nil)

// Finish writes bm25/index.bin and the manifest's bm25 section.
func (s *Step) Finish(ctx context.Context, ix *retrieval.Index, m *retrieval.Manifest) error {
	if s.w == nil { // an empty corpus
		w, err := NewWriter(s.o)
		if err != nil {
			return err
		}
		s.w = w
	}
	p := filepath.Join(ix.Dir, Dir, File)
	st, err := s.w.Finish(ctx, p)
	if err != nil {
		return err
	}
	s.Stats = st
	idx, err := OpenFile(p)
	if err != nil {
		return err
	}
	defer idx.Close()
	m.BM25 = &retrieval.BM25Entry{
		K1: s.o.Params.K1, B: s.o.Params.B, Tokenizer: s.o.Analyzer, QueryAnalyzer: s.o.QueryAnalyzer, Path: Dir,
		Version: idx.Version(), NumTerms: idx.NumTerms(), AvgDocLen: idx.AvgDocLen(),
	}
	return nil
}
