package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
	"github.com/lsrflow/lsrflow/schemas"
)

// LexGrid are the lexical weights TuneLexWeight tries: a log grid wide enough for dense
// scores of any scale.
var LexGrid = []float64{0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10}

// FitOptions describe one batch training run (lsrflow train).
type FitOptions struct {
	Config   Config
	Embedder embed.Embedder
	// Vectors and Docs are the index's passage vectors and docstore; Dense searches the index.
	Vectors VectorSource
	Docs    DocIndex
	Dense   DenseSearcher
	// Lexical makes the served retriever a hybrid (hybrid.Linear fusion of the lexical list
	// and the adapted dense one); nil: dense.
	Lexical Lexical
	// HoldOut is the share of training queries (HeldOut, by query id) kept out of training
	// to tune the lexical weight (0: none; the weight learned with the adapter is kept).
	HoldOut float64
	// MinTune is how many held-out queries tuning needs (default 50); with fewer the weight
	// learned with the adapter is kept.
	MinTune     int
	KeepUniform bool
	// Eval are evaluation questions, measured before and after; they decide nothing.
	Eval []EvalQuery
	// CheckpointInfo fills the checkpoint's bookkeeping (version, embedder, index, eval set).
	Info CheckpointInfo
	// Progress, if set, is told what happens.
	Progress func(format string, args ...any)
}

// FitResult is what Fit did.
type FitResult struct {
	Adapter   *adapter.Linear
	Trainer   *Trainer
	Examples  int
	Skipped   map[string]int
	HeldOut   int // held-out training queries with a teacher preference
	Serving   adapter.Serving
	Learned   float64            // the lexical weight the loss learned (0: not learned)
	Tuning    []TuneStep         // the held-out metrics of every weight tried
	Before    map[string]float64 // on Eval: the untrained retriever (hybrid: sum fusion 1/1, retrieve's default)
	After     map[string]float64 // on Eval: the trained one as served
	DenseOnly map[string]float64 // on Eval: the adapted dense retriever alone (hybrid runs)
	BM25      map[string]float64 // on Eval: the lexical retriever alone (hybrid runs)
	Seconds   float64
}

// TuneStep is one lexical weight tried on the held-out records.
type TuneStep struct {
	LexWeight float64            `json:"lexical_weight"`
	Metrics   map[string]float64 `json:"metrics"`
}

// Fit splits recs into training and held-out queries, trains an adapter on the training
// ones (jointly with the lexical weight when Config.LearnLex), tunes the lexical weight of a
// hybrid on the held-out ones, and measures Eval before and after. Nothing about Eval
// influences the result.
func Fit(ctx context.Context, recs []schemas.Scored, o FitOptions) (*FitResult, error) {
	start := time.Now()
	say := o.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	pass, err := NewPassages(o.Vectors, o.Docs)
	if err != nil {
		return nil, err
	}
	ds := NewDataset(pass, o.Embedder)
	ds.KeepUniform = o.KeepUniform
	ds.Lexical = o.Lexical
	var trainRecs []schemas.Scored
	var held []EvalQuery
	if o.Lexical == nil {
		o.HoldOut = 0 // nothing to tune for a dense retriever: train on everything
	}
	for _, r := range recs {
		if HeldOut(r.ID, o.HoldOut) {
			if q, ok := HeldOutQuery(r); ok {
				held = append(held, q)
			}
			continue
		}
		trainRecs = append(trainRecs, r)
	}
	if _, err := ds.Add(ctx, trainRecs); err != nil {
		return nil, err
	}
	res := &FitResult{Examples: ds.Len(), Skipped: ds.Skipped, HeldOut: len(held)}
	if ds.Len() == 0 {
		return res, errors.New("train: no usable training records (all uniform, invalid or duplicate?)")
	}
	say("training examples: %d (skipped: %v); held-out queries: %d", ds.Len(), ds.Skipped, len(held))
	cfg := o.Config
	if o.Lexical == nil {
		cfg.LearnLex = false
	}
	tr, err := NewTrainer(cfg, ds)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	res.Trainer = tr
	sv := adapter.Serving{Method: "dense"}
	if o.Lexical != nil {
		sv = adapter.Serving{Method: hybrid.Method, Fusion: hybrid.Linear.String(), LexicalWeight: tr.Cfg.LexInit, DenseWeight: 1}
	}
	var ev *Evaluator
	if len(o.Eval) > 0 {
		if ev, err = NewEvaluator(ctx, o.Embedder, o.Eval, nil, o.Dense, o.Lexical); err != nil {
			return nil, err
		}
		base := sv
		if o.Lexical != nil { // untrained: the hybrid lsrflow retrieve serves by default
			base = adapter.Serving{Method: hybrid.Method, Fusion: hybrid.Sum.String(), LexicalWeight: 1, DenseWeight: 1}
		}
		if res.Before, err = ev.Eval(ctx, nil, base); err != nil {
			return nil, err
		}
	}
	t1 := time.Now()
	if err := tr.Train(ctx, tr.Cfg.Steps); err != nil {
		return nil, err
	}
	say("trained %d steps of %d in %.1fs, last batch loss %.4f", tr.StepsDone, tr.Cfg.Batch, time.Since(t1).Seconds(), tr.LastLoss)
	a, err := tr.Adapter(o.Info)
	if err != nil {
		return nil, err
	}
	if o.Lexical != nil {
		res.Learned = tr.Params.LexWeight()
		sv.LexicalWeight = tr.Cfg.LexInit
		sv.WeightsFrom = "the initial lexical weight"
		if res.Learned > 0 {
			sv.LexicalWeight = res.Learned
			sv.WeightsFrom = fmt.Sprintf("learned with the adapter on %d training records", ds.Len())
		}
		if o.MinTune <= 0 {
			o.MinTune = 50
		}
		if len(held) >= o.MinTune {
			hev, err := NewEvaluator(ctx, o.Embedder, held, nil, o.Dense, o.Lexical)
			if err != nil {
				return nil, err
			}
			w, steps, err := TuneLexWeight(ctx, hev, a, LexGrid)
			if err != nil {
				return nil, err
			}
			res.Tuning = steps
			sv.LexicalWeight = w
			sv.WeightsFrom = fmt.Sprintf("tuned on %d held-out training queries (mean teacher_hit@1/5/20 over %d weights)", len(held), len(LexGrid))
		}
	}
	res.Serving = sv
	info := o.Info
	info.Serving = sv
	if ev != nil {
		if res.After, err = ev.Eval(ctx, a, sv); err != nil {
			return nil, err
		}
		if o.Lexical != nil {
			if res.DenseOnly, err = ev.Eval(ctx, a, adapter.Serving{Method: "dense"}); err != nil {
				return nil, err
			}
			if res.BM25, err = ev.Eval(ctx, nil, adapter.Serving{Method: hybrid.Method, Fusion: "linear", LexicalWeight: 1, DenseWeight: 0}); err != nil {
				return nil, err
			}
		}
		info.Metrics, info.Baseline = res.After, res.Before
	}
	if res.Adapter, err = tr.Adapter(info); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// TuneLexWeight ranks the held-out queries of ev with adapter a under hybrid.Linear fusion
// for every lexical weight of grid (one dense search, many fusions) and returns the weight
// with the best mean teacher_hit@k over ev.Ks (the first one on ties), with every step.
func TuneLexWeight(ctx context.Context, ev *Evaluator, a *adapter.Linear, grid []float64) (float64, []TuneStep, error) {
	if len(grid) == 0 {
		return 0, nil, errors.New("train: empty lexical weight grid")
	}
	svs := make([]adapter.Serving, len(grid))
	for i, w := range grid {
		svs[i] = adapter.Serving{Method: hybrid.Method, Fusion: hybrid.Linear.String(), LexicalWeight: w, DenseWeight: 1}
	}
	ms, err := ev.EvalFusions(ctx, a, svs)
	if err != nil {
		return 0, nil, err
	}
	best, bestW := math.Inf(-1), grid[0]
	steps := make([]TuneStep, len(grid))
	for i, m := range ms {
		var s float64
		for _, k := range ev.Ks {
			s += m[HitName(k)]
		}
		steps[i] = TuneStep{LexWeight: grid[i], Metrics: m}
		if s > best+1e-12 {
			best, bestW = s, grid[i]
		}
	}
	return bestW, steps, nil
}
