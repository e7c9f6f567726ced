package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/pipeline"
	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/train"
)

// serving is an opened retriever and the parts a new adapter version is served with.
type serving struct {
	r      retrieval.Retriever
	base   *dense.Retriever    // the dense side without an adapter (nil for bm25)
	lex    retrieval.Retriever // the lexical side of a hybrid (nil otherwise)
	fusion hybrid.Options      // a hybrid's fusion when the adapter brings none
	a      *adapter.Linear     // the adapter applied (nil: none)
}

// openServing opens the retriever of method over dir, with the adapter checkpoint at
// adapterPath ("" for none) applied to its dense side. A checkpoint trained for a hybrid
// brings its fusion unless keepFusion (the user chose one).
func openServing(ctx context.Context, flagName, dir, method string, fusion hybrid.Options, adapterPath string, keepFusion bool) (*retrieval.Index, serving, error) {
	ix, r, err := openRetrieverWith(ctx, retrievalOpenersWith(fusion), flagName, dir, method)
	if err != nil {
		return nil, serving{}, err
	}
	s := serving{r: r, fusion: fusion}
	switch x := r.(type) {
	case *dense.Retriever:
		s.base = x
	case *hybrid.Retriever:
		s.base, _ = x.Dense().(*dense.Retriever)
		s.lex = x.Lexical()
		s.fusion = x.Options()
	}
	if adapterPath == "" {
		return ix, s, nil
	}
	fail := func(err error) (*retrieval.Index, serving, error) {
		ix.Close()
		return nil, serving{}, err
	}
	if s.base == nil {
		return fail(usagef("--adapter needs --method dense or hybrid (a query adapter maps dense query vectors)"))
	}
	a, err := loadAdapterFor(adapterPath, s.base)
	if err != nil {
		return fail(err)
	}
	if keepFusion && a.Meta.Serving.Method == hybrid.Method {
		c := *a
		c.Meta.Serving = adapter.Serving{}
		a = &c
	}
	if s.r, err = adapter.Serve(s.base, s.lex, a, s.fusion); err != nil {
		return fail(err)
	}
	s.a = a
	return ix, s, nil
}

// configFusion reads the config's hybrid fusion (default rrf, as before the key existed).
func configFusion(c *pipeline.Config) (hybrid.Options, error) {
	f, err := hybrid.ParseFusion(c.Fusion)
	if err != nil {
		return hybrid.Options{}, usagef("fusion: %v", err)
	}
	return hybrid.Options{Fusion: f}, nil
}

// openConfigServing opens the retriever a topology config describes (method, fusion, adapter).
func openConfigServing(ctx context.Context, c *pipeline.Config) (*retrieval.Index, serving, error) {
	fo, err := configFusion(c)
	if err != nil {
		return nil, serving{}, err
	}
	return openServing(ctx, "index", c.IndexPath, c.RetrievalMethod, fo, c.Adapter, false)
}

// newTrainStage builds the train stage of a topology (c.Train) for the retriever s serves,
// and the follower that applies its updates to the running retrieve stage.
func newTrainStage(ctx context.Context, c *pipeline.Config, ix *retrieval.Index, s serving,
	tr streams.Transport, topics pipeline.Topics, reg prometheus.Registerer, log *slog.Logger) (*ptrain.Processor, func(context.Context, pipeline.RetrieverSwapper) error, error) {
	tc := c.Train
	if s.base == nil {
		return nil, nil, usagef("train: needs retrieval_method dense or hybrid (got %s)", s.r.Info().Method)
	}
	emb := s.base.Embedder()
	var evalQs []train.EvalQuery
	if tc.EvalPath != "" {
		if err := mustExist("train.eval_path", tc.EvalPath); err != nil {
			return nil, nil, err
		}
		qs, _, err := train.ReadEvalQueries(tc.EvalPath)
		if err != nil {
			return nil, nil, usagef("train.eval_path: %v", err)
		}
		evalQs = qs
	}
	pass, err := train.NewPassages(s.base.Index(), ix.Docs)
	if err != nil {
		return nil, nil, err
	}
	ds := train.NewDataset(pass, emb)
	ds.Window = tc.Window
	if ds.Window == 0 {
		ds.Window = 10000
	}
	sv := adapter.Serving{Method: "dense"}
	cfg := train.Config{Gamma: tc.Gamma, L2: tc.L2, LR: tc.LR, Negatives: tc.Negatives, Seed: tc.Seed}
	var lex train.Lexical
	if s.lex != nil {
		lex = s.lex
		if b, ok := s.lex.(*bm25.Retriever); ok { // ranks need ids, not passage texts
			lex = train.LexicalIDs{Index: b.Index(), Docs: ix.Docs}
		}
		ds.Lexical = lex
		cfg.LearnLex = true
		sv = adapter.Serving{Method: hybrid.Method, Fusion: s.fusion.Fusion.String(), LexicalWeight: s.fusion.LexicalWeight, DenseWeight: s.fusion.DenseWeight}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, usagef("train: %v", err)
	}
	trainer, err := train.NewTrainer(cfg, ds)
	if err != nil {
		return nil, nil, usagef("train: %v", err)
	}
	var interval time.Duration
	if tc.Interval != "" {
		interval, _ = time.ParseDuration(tc.Interval) // validated with the config
	}
	onRound := trainMetrics(reg)
	o := ptrain.Options{Trainer: trainer, Embedder: emb, Dense: train.DenseIDs{Index: s.base.Index(), Docs: ix.Docs}, Lexical: lex, Serving: sv,
		HoldOut: tc.HoldOut, MinHeldOut: tc.MinHeldOut, EvalQueries: evalQs,
		Every: tc.Every, Interval: interval, StepsPerRound: tc.StepsPerRound, Dir: tc.CheckpointDir,
		UpdatesTopic: topics.Updates, IndexVersion: s.base.Info().Version, Force: tc.Force, Publisher: tr, Sync: c.Sync, Log: log,
		OnRound: func(rd ptrain.Round) {
			onRound(rd)
			log.Info("train round", "candidate", rd.Candidate, "published", rd.Published, "reason", rd.Reason, "examples", rd.Records,
				"steps", rd.Steps, "loss", rd.Loss, "held_out", fmtMetrics(rd.HeldOut), "eval", fmtMetrics(rd.Eval))
		}}
	if c.Transport != "kafka" {
		// The embedded transport forgets its topics with the process: records the stage had
		// not consumed before a crash are read back from the scored sink's file.
		o.ScoredLog = filepath.Join(c.SaveDir, pipeline.ScoredFile)
	}
	proc, err := ptrain.New(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	follow := newFollower(s, tr, topics, log)
	return proc, follow, nil
}

// newFollower returns the function a retrieve process runs to apply retriever updates to its
// retrieve stage. Each process follows in its own group: every process applies every update.
func newFollower(s serving, sub streams.Subscriber, topics pipeline.Topics, log *slog.Logger) func(context.Context, pipeline.RetrieverSwapper) error {
	group := "lsrflow-follower-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	return func(ctx context.Context, target pipeline.RetrieverSwapper) error {
		f := &ptrain.Follower{Sub: sub, Topic: topics.Updates, Group: group, Base: s.base, Lexical: s.lex, Hybrid: s.fusion,
			Target: target, Log: log}
		return f.Run(ctx)
	}
}

// reportTraining prints the train stage's rounds of this run and writes the last published
// version's evaluation metrics as saveDir/eval-live.json for the report (the stage itself logs
// every round in its directory's rounds.jsonl).
func reportTraining(sio stdio, p *ptrain.Processor, saveDir string) {
	rounds := p.Rounds()
	if len(rounds) == 0 {
		fmt.Fprintln(sio.err, "lsrflow: train stage: no round yet (fewer records than train.every)")
		return
	}
	var last *ptrain.Round
	for i, r := range rounds {
		state := "kept v" + strconv.Itoa(r.Version) + ": " + r.Reason
		if r.Published {
			state = "published"
			last = &rounds[i]
		}
		fmt.Fprintf(sio.out, "train round %d: %d examples, %d held-out, %d steps, loss %.4f, held-out %s (in use: %s) -> v%d %s\n",
			i+1, r.Records, r.HeldOutN, r.Steps, r.Loss, fmtMetrics(r.HeldOut), fmtMetrics(r.Current), r.Candidate, state)
		if r.Eval != nil {
			fmt.Fprintf(sio.out, "  evaluation (%s): %s; dense alone: %s\n", r.Method, fmtMetrics(r.Eval), fmtMetrics(r.EvalDense))
		}
	}
	if last != nil && last.Eval != nil {
		out := map[string]any{"label": fmt.Sprintf("live v%d (%s)", last.Candidate, last.Method), "kind": "retrieval"}
		for k, v := range last.Eval {
			out[k] = v
		}
		if b, err := json.Marshal(out); err == nil {
			_ = os.WriteFile(filepath.Join(saveDir, "eval-live.json"), append(b, '\n'), 0o644)
		}
	}
}

func fmtMetrics(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%.3f ", k, m[k])
	}
	return strings.TrimSpace(s)
}
