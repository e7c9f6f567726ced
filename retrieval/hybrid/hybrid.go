package hybrid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
)

// Method is the retrieval method name.
const Method = "hybrid"

// Fusion selects how the two ranked lists are combined.
type Fusion int

const (
	// RRF is reciprocal rank fusion.
	RRF Fusion = iota
	// Sum is the sum of min-max normalized scores.
	Sum
	// Linear adds the min-max normalized lexical score to the raw dense score (inner
	// product): the scoring function the query-adapter trainer learns its lexical weight for.
	Linear
)

// String returns "rrf", "sum" or "linear".
func (f Fusion) String() string {
	switch f {
	case Sum:
		return "sum"
	case Linear:
		return "linear"
	}
	return "rrf"
}

// ParseFusion reads "rrf", "sum" or "linear".
func ParseFusion(s string) (Fusion, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rrf", "":
		return RRF, nil
	case "sum", "score-sum", "normalized-sum":
		return Sum, nil
	case "linear":
		return Linear, nil
	}
	return 0, fmt.Errorf("hybrid: unknown fusion %q (want rrf, sum or linear)", s)
}

// Options configure fusion. Zero values take the defaults.
type Options struct {
	Fusion Fusion
	// K is the RRF constant (default 60).
	K float64
	// Overfetch multiplies k for each retriever (default 4); MinFetch is the least fetched
	// (default 100).
	Overfetch, MinFetch int
	// LexicalWeight and DenseWeight scale the two lists (default 1 each).
	LexicalWeight, DenseWeight float64
}

func (o Options) withDefaults() (Options, error) {
	if o.K == 0 {
		o.K = 60
	}
	if o.Overfetch == 0 {
		o.Overfetch = 4
	}
	if o.MinFetch == 0 {
		o.MinFetch = 100
	}
	if o.LexicalWeight == 0 && o.DenseWeight == 0 {
		o.LexicalWeight, o.DenseWeight = 1, 1
	}
	switch {
	case !(o.K > 0) || math.IsInf(o.K, 0):
		return o, fmt.Errorf("hybrid: K = %g must be positive", o.K)
	case o.Overfetch < 1 || o.MinFetch < 1:
		return o, fmt.Errorf("hybrid: overfetch %d and min fetch %d must be >= 1", o.Overfetch, o.MinFetch)
	case o.LexicalWeight < 0 || o.DenseWeight < 0 || math.IsNaN(o.LexicalWeight) || math.IsNaN(o.DenseWeight):
		return o, fmt.Errorf("hybrid: weights %g, %g must be >= 0", o.LexicalWeight, o.DenseWeight)
	case o.Fusion != RRF && o.Fusion != Sum && o.Fusion != Linear:
		return o, fmt.Errorf("hybrid: unknown fusion %d", o.Fusion)
	}
	return o, nil
}

// Retriever fuses a lexical and a dense retriever.
type Retriever struct {
	lex, dense retrieval.Retriever
	o          Options
}

var _ retrieval.BatchRetriever = (*Retriever)(nil)

// New returns a hybrid of lex and dense.
func New(lex, dense retrieval.Retriever, o Options) (*Retriever, error) {
	if lex == nil || dense == nil {
		return nil, errors.New("hybrid: both retrievers are required")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Retriever{lex: lex, dense: dense, o: o}, nil
}

// Lexical is the lexical retriever.
func (r *Retriever) Lexical() retrieval.Retriever { return r.lex }

// Dense is the dense retriever.
func (r *Retriever) Dense() retrieval.Retriever { return r.dense }

// Options are the fusion options in effect (defaults filled in).
func (r *Retriever) Options() Options { return r.o }

// WithDense returns a hybrid of the same lexical retriever with dense and options o: a new
// query adapter version swaps in as a whole new Retriever, so that Info and Search agree.
func (r *Retriever) WithDense(dense retrieval.Retriever, o Options) (*Retriever, error) {
	return New(r.lex, dense, o)
}

// Opener returns the retrieval.Opener of method "hybrid" over the lexical and dense openers.
func Opener(lex, dense retrieval.Opener, o Options) retrieval.Opener {
	return func(ctx context.Context, ix *retrieval.Index) (retrieval.Retriever, error) {
		l, err := lex(ctx, ix)
		if err != nil {
			return nil, err
		}
		d, err := dense(ctx, ix)
		if err != nil {
			return nil, err
		}
		return New(l, d, o)
	}
}

// Info names the fusion and both retrievers' versions.
func (r *Retriever) Info() schemas.RetrieverInfo {
	li, di := r.lex.Info(), r.dense.Info()
	desc := r.o.Fusion.String()
	if r.o.Fusion == RRF {
		desc += fmt.Sprintf("(k=%g", r.o.K)
	} else {
		desc += "("
	}
	// a learned lexical weight is not a round number: keep the version string short
	weights := fmt.Sprintf("w=%g/%g", r.o.LexicalWeight, r.o.DenseWeight)
	if r.o.Fusion == Linear {
		weights = fmt.Sprintf("w=%.4g/%.4g", r.o.LexicalWeight, r.o.DenseWeight)
	}
	if r.o.LexicalWeight != 1 || r.o.DenseWeight != 1 {
		if r.o.Fusion == RRF {
			desc += ","
		}
		desc += weights
	}
	desc += ")"
	return schemas.RetrieverInfo{Method: Method,
		Version: fmt.Sprintf("%s|%s@%s|%s@%s", desc, li.Method, li.Version, di.Method, di.Version)}
}

func (r *Retriever) fetch(k int) int { return max(k*r.o.Overfetch, r.o.MinFetch) }

// Search returns the top k fused passages.
func (r *Retriever) Search(ctx context.Context, question string, k int) ([]schemas.Passage, error) {
	if k <= 0 {
		return nil, fmt.Errorf("hybrid: k = %d must be positive", k)
	}
	n := r.fetch(k)
	var lp, dp []schemas.Passage
	var lerr, derr error
	var wg sync.WaitGroup
	wg.Go(func() { lp, lerr = r.lex.Search(ctx, question, n) })
	dp, derr = r.dense.Search(ctx, question, n)
	wg.Wait()
	if err := errors.Join(lerr, derr); err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	return Fuse(lp, dp, k, r.o), nil
}

// SearchBatch searches every question, batching each retriever when it supports it.
func (r *Retriever) SearchBatch(ctx context.Context, questions []string, k int) ([][]schemas.Passage, error) {
	if k <= 0 {
		return nil, fmt.Errorf("hybrid: k = %d must be positive", k)
	}
	n := r.fetch(k)
	var ls, ds [][]schemas.Passage
	var lerr, derr error
	var wg sync.WaitGroup
	wg.Go(func() { ls, lerr = batch(ctx, r.lex, questions, n) })
	ds, derr = batch(ctx, r.dense, questions, n)
	wg.Wait()
	if err := errors.Join(lerr, derr); err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	out := make([][]schemas.Passage, len(questions))
	for i := range questions {
		out[i] = Fuse(ls[i], ds[i], k, r.o)
	}
	return out, nil
}

func batch(ctx context.Context, r retrieval.Retriever, qs []string, k int) ([][]schemas.Passage, error) {
	if b, ok := r.(retrieval.BatchRetriever); ok {
		return b.SearchBatch(ctx, qs, k)
	}
	out := make([][]schemas.Passage, len(qs))
	for i, q := range qs {
		ps, err := r.Search(ctx, q, k)
		if err != nil {
			return nil, err
		}
		out[i] = ps
	}
	return out, nil
}

// Fuse combines two best-first lists (lexical, dense) into the top k, as configured by o
// (zero fields take the defaults; invalid options fall back to them).
func Fuse(lex, dense []schemas.Passage, k int, o Options) []schemas.Passage {
	if oo, err := o.withDefaults(); err == nil {
		o = oo
	} else {
		o, _ = Options{}.withDefaults()
	}
	type acc struct {
		p        schemas.Passage
		score    float64
		bestRank int
		inDense  bool
	}
	byID := map[string]*acc{}
	add := func(list []schemas.Passage, w float64, normalize, isDense bool) {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range list {
			lo, hi = math.Min(lo, p.Score), math.Max(hi, p.Score)
		}
		seen := map[string]bool{}
		for i, p := range list {
			if seen[p.ID] { // a list may repeat an id (duplicate corpus ids): count its best rank only
				continue
			}
			seen[p.ID] = true
			var s float64
			switch {
			case o.Fusion == RRF:
				s = w / (o.K + float64(i+1))
			case !normalize:
				s = w * p.Score
			case hi > lo:
				s = w * (p.Score - lo) / (hi - lo)
			default:
				s = w
			}
			a, ok := byID[p.ID]
			if !ok {
				a = &acc{p: p, bestRank: i + 1}
				byID[p.ID] = a
			}
			a.score += s
			a.bestRank = min(a.bestRank, i+1)
			a.inDense = a.inDense || isDense
		}
	}
	add(lex, o.LexicalWeight, true, false)
	add(dense, o.DenseWeight, o.Fusion != Linear, true)
	if o.Fusion == Linear && len(dense) > 0 {
		// A passage the dense list does not hold scores at most the list's lowest score;
		// that bound stands in for its raw dense score.
		lo := math.Inf(1)
		for _, p := range dense {
			lo = math.Min(lo, p.Score)
		}
		for _, a := range byID {
			if !a.inDense {
				a.score += o.DenseWeight * lo
			}
		}
	}
	all := make([]*acc, 0, len(byID))
	for _, a := range byID {
		all = append(all, a)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		if all[i].bestRank != all[j].bestRank {
			return all[i].bestRank < all[j].bestRank
		}
		return all[i].p.ID < all[j].p.ID
	})
	out := make([]schemas.Passage, 0, min(k, len(all)))
	for _, a := range all[:min(k, len(all))] {
		p := a.p
		p.Score = a.score
		out = append(out, p)
	}
	return out
}
