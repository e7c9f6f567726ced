// Package retrieve is the retrieval stage: it turns query records into candidate sets with a
// retrieval.Retriever. The retriever can be swapped while the stage runs (a new adapter or
// index version): every candidate set is stamped with the version that produced it, and a
// search in progress finishes on the retriever it started with.
//
// Micro-batching: with a retriever that searches in batches (dense, hybrid), the queries in
// flight at once (the stage's Concurrency, BatchConcurrency by default for such retrievers)
// are grouped into one search call of at most MaxBatch questions. The first query of a batch
// waits at most MaxWait for others, and only while other queries are arriving, so a lone
// query pays no latency. Each query's candidates are exactly what a search of that query
// alone returns; only the number of FAISS calls changes.
package retrieve

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// Processor retrieves the top-K passages of each query.
type Processor struct {
	K         int
	retriever atomic.Pointer[retrieverBox]
	batch     *batcher // nil: one search per query
}

type retrieverBox struct {
	r       retrieval.Retriever
	version int // adapter version number of r (0: none)
}

// New returns a retrieve processor over r, batching as DefaultBatching(r) says.
func New(r retrieval.Retriever, k int) *Processor {
	return NewBatching(r, k, DefaultBatching(r))
}

// NewBatching returns a retrieve processor over r that batches the queries in flight as b
// says (b.MaxBatch <= 1: one search per query).
func NewBatching(r retrieval.Retriever, k int, b Batching) *Processor {
	p := &Processor{K: k}
	if b.MaxBatch > 1 {
		p.batch = newBatcher(b)
	}
	p.Swap(r)
	return p
}

// Swap replaces the retriever; queries already being processed keep the old one.
func (p *Processor) Swap(r retrieval.Retriever) {
	v, _ := adapter.ParseVersion(r.Info().Version)
	p.retriever.Store(&retrieverBox{r, v})
}

// SwapIfNewer replaces the retriever only when version is newer than the one in use, and
// reports whether it did. Concurrent calls in any order leave the newest version in use, so
// the version a query runs on never goes back (a query runs on the retriever in use when its
// processing starts).
func (p *Processor) SwapIfNewer(r retrieval.Retriever, version int) bool {
	nb := &retrieverBox{r, version}
	for {
		old := p.retriever.Load()
		if old != nil && old.version >= version {
			return false
		}
		if p.retriever.CompareAndSwap(old, nb) {
			return true
		}
	}
}

// Version is the adapter version number of the retriever in use (0: none).
func (p *Processor) Version() int { return p.retriever.Load().version }

// Retriever returns the current retriever.
func (p *Processor) Retriever() retrieval.Retriever { return p.retriever.Load().r }

// Process implements streams.Processor.
func (p *Processor) Process(ctx context.Context, m streams.Message) ([]streams.Message, error) {
	if p.batch != nil {
		p.batch.arrive()
	}
	q, err := schemas.DecodeQuery(m.Value)
	if err != nil {
		if p.batch != nil {
			p.batch.leave()
		}
		return nil, err
	}
	var (
		docs []schemas.Passage
		info schemas.RetrieverInfo
	)
	if p.batch != nil {
		docs, info, err = p.batch.search(ctx, p.Retriever, q.Question, p.K)
	} else {
		docs, info, err = search(ctx, p.Retriever(), q.Question, p.K)
	}
	if err != nil {
		return nil, fmt.Errorf("retrieve %s: %w", q.ID, err)
	}
	c := schemas.Candidates{SchemaVersion: schemas.CandidatesVersion, Query: q, Docs: docs, Retriever: info}
	b, err := schemas.Encode(c)
	if err != nil {
		return nil, streams.Permanent("encode", err)
	}
	return []streams.Message{{Key: []byte(q.ID), Value: b}}, nil
}

// search returns the passages and the version that produced them, atomically when the
// retriever can tell (InfoSearcher).
func search(ctx context.Context, r retrieval.Retriever, question string, k int) ([]schemas.Passage, schemas.RetrieverInfo, error) {
	if is, ok := r.(retrieval.InfoSearcher); ok {
		res, info, err := is.SearchInfo(ctx, []string{question}, k)
		if err != nil {
			return nil, info, err
		}
		if len(res) != 1 {
			return nil, info, fmt.Errorf("retriever returned %d result lists for 1 question", len(res))
		}
		return res[0], info, nil
	}
	docs, err := r.Search(ctx, question, k)
	return docs, r.Info(), err
}
