package retrieve

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
)

// Batching configures how the processor groups the queries in flight into one search call
// (FAISS multiplies a batch of query vectors as one matrix: many times the throughput of one
// query per call).
type Batching struct {
	// MaxBatch is the most queries per search call (<= 1: no batching).
	MaxBatch int
	// MaxWait is the latency budget: how long the first query of a batch waits for others to
	// join. It waits only while other queries are arriving or another batch is being searched
	// (the cores are busy anyway), so a lone query on an idle stage is searched at once.
	MaxWait time.Duration
}

// Defaults for retrievers that search in batches (dense, hybrid).
const (
	DefaultMaxBatch = 64
	DefaultMaxWait  = 10 * time.Millisecond
	// BatchConcurrency is the stage concurrency that lets DefaultMaxBatch queries be in
	// flight at once.
	BatchConcurrency = DefaultMaxBatch
)

// DefaultBatching is the batching New uses for r: DefaultMaxBatch and DefaultMaxWait when r
// searches in batches, none otherwise.
func DefaultBatching(r retrieval.Retriever) Batching {
	if _, ok := r.(retrieval.BatchRetriever); ok {
		return Batching{MaxBatch: DefaultMaxBatch, MaxWait: DefaultMaxWait}
	}
	if _, ok := r.(retrieval.InfoSearcher); ok {
		return Batching{MaxBatch: DefaultMaxBatch, MaxWait: DefaultMaxWait}
	}
	return Batching{}
}

// batcher groups concurrent searches. The first caller of a batch leads it: it waits up to
// MaxWait while others are arriving or another batch is being searched (or until the batch is
// full), closes the batch, searches every question in one call on the retriever current at
// that moment, and wakes the others. No goroutine of its own: nothing to stop.
type batcher struct {
	cfg       Batching
	mu        sync.Mutex
	open      *batch // accepting questions, or nil
	arriving  int    // callers between Process entry and joining a batch
	searching int    // batches being searched
	joined    chan struct{}
}

type batch struct {
	questions []string
	full      chan struct{} // closed when the batch reaches MaxBatch
	done      chan struct{} // closed when res, info and err are set
	res       [][]schemas.Passage
	info      schemas.RetrieverInfo
	err       error
}

func newBatcher(cfg Batching) *batcher {
	return &batcher{cfg: cfg, joined: make(chan struct{}, 1)}
}

// arrive records a caller that will join a batch soon (leaders wait for it).
func (b *batcher) arrive() {
	b.mu.Lock()
	b.arriving++
	b.mu.Unlock()
}

// leave undoes arrive for a caller that will not join (bad input).
func (b *batcher) leave() {
	b.mu.Lock()
	b.arriving--
	b.mu.Unlock()
	b.signal()
}

func (b *batcher) signal() {
	select {
	case b.joined <- struct{}{}:
	default:
	}
}

// search adds question to a batch and returns its results and the version that produced them.
func (b *batcher) search(ctx context.Context, r func() retrieval.Retriever, question string, k int) ([]schemas.Passage, schemas.RetrieverInfo, error) {
	b.mu.Lock()
	b.arriving--
	bt, leader := b.open, false
	if bt == nil {
		bt = &batch{full: make(chan struct{}), done: make(chan struct{})}
		b.open, leader = bt, true
	}
	i := len(bt.questions)
	bt.questions = append(bt.questions, question)
	if len(bt.questions) >= b.cfg.MaxBatch {
		b.open = nil
		close(bt.full)
	}
	b.mu.Unlock()
	b.signal()
	if leader {
		b.lead(ctx, bt)
		b.mu.Lock()
		b.searching++
		b.mu.Unlock()
		bt.res, bt.info, bt.err = searchMany(ctx, r(), bt.questions, k)
		close(bt.done)
		b.mu.Lock()
		b.searching--
		b.mu.Unlock()
		b.signal()
	}
	select {
	case <-bt.done:
	case <-ctx.Done():
		return nil, schemas.RetrieverInfo{}, ctx.Err()
	}
	if bt.err != nil {
		return nil, bt.info, bt.err
	}
	return bt.res[i], bt.info, nil
}

// lead waits until bt is full, the latency budget is spent, or no other caller is arriving
// and no other batch is being searched; then it closes bt to newcomers.
func (b *batcher) lead(ctx context.Context, bt *batch) {
	deadline := time.NewTimer(b.cfg.MaxWait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		waiting := b.open == bt && (b.arriving > 0 || b.searching > 0)
		b.mu.Unlock()
		if !waiting {
			break
		}
		select {
		case <-bt.full:
		case <-b.joined:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	b.mu.Lock()
	if b.open == bt {
		b.open = nil
	}
	b.mu.Unlock()
}

// searchMany searches questions in one call: SearchInfo when the retriever reports the
// version atomically, else SearchBatch, else one Search per question.
func searchMany(ctx context.Context, r retrieval.Retriever, questions []string, k int) ([][]schemas.Passage, schemas.RetrieverInfo, error) {
	var (
		res  [][]schemas.Passage
		info schemas.RetrieverInfo
		err  error
	)
	switch s := r.(type) {
	case retrieval.InfoSearcher:
		res, info, err = s.SearchInfo(ctx, questions, k)
	case retrieval.BatchRetriever:
		info = r.Info()
		res, err = s.SearchBatch(ctx, questions, k)
	default:
		info = r.Info()
		res = make([][]schemas.Passage, len(questions))
		for i, q := range questions {
			if res[i], err = r.Search(ctx, q, k); err != nil {
				break
			}
		}
	}
	if err == nil && len(res) != len(questions) {
		err = fmt.Errorf("retriever returned %d result lists for %d questions", len(res), len(questions))
	}
	return res, info, err
}
