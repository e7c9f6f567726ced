package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/jsonl"
	"github.com/lsrflow/lsrflow/sinks/parquet"
	"github.com/lsrflow/lsrflow/train"
)

func trainCmd() *command {
	return &command{name: "train", summary: "train a query-side adapter for a dense index from scored records (REPLUG LSR)", run: runTrain}
}

// readScoredFile reads scored.parquet or scored.jsonl (by extension).
func readScoredFile(ctx context.Context, path string) ([]schemas.Scored, error) {
	if strings.HasSuffix(path, ".parquet") {
		return parquet.ReadFile(ctx, path)
	}
	return jsonl.ReadAll(path, schemas.DecodeScored)
}

func runTrain(ctx context.Context, sio stdio, args []string) error {
	def := train.DefaultConfig()
	f := newFlags(sio, "train", "--index DIR --data scored.parquet|scored.jsonl [--data ...] --out adapter.safetensors [--eval Q.jsonl [--force]] [flags]",
		`Learns a linear map W on query embeddings (identity at the start; --rank r for W = I + U Vᵀ)
with the LSR loss KL(teacher || softmax((W q)·p / gamma)) per query over its candidates plus
random corpus and in-batch negatives, and an L2 pull of W toward the identity (Adam, seeded).
Passages and questions are embedded with the index's dense embedder; the checkpoint is a
safetensors file that 'lsrflow retrieve --method dense --adapter FILE' applies. Records whose
teacher distribution is uniform (no preference) are skipped unless --keep-uniform.

With --eval (a FlashRAG dataset with gold_doc_ids) it prints gold-document recall@1/5/20 before
and after training (whole-corpus retrieval). Evaluation questions that were training questions
(same id, or same normalized question) are refused unless --force; the overlap is always
reported and recorded in the checkpoint.`)
	index := f.String("index", "", "index directory with a dense entry (lsrflow index --embedder ...)")
	var data listFlag
	f.Var(&data, "data", "scored records: .parquet or .jsonl (repeatable, or comma-separated)")
	out := f.String("out", "", "output checkpoint (.safetensors)")
	evalPath := f.String("eval", "", "evaluation questions (FlashRAG jsonl with gold_doc_ids)")
	force := f.Bool("force", false, "evaluate even when evaluation questions were training questions")
	denseName := f.String("dense", "", "dense entry name when the index has several")
	steps := f.Int("steps", def.Steps, "optimizer steps")
	batch := f.Int("batch", def.Batch, "queries per mini-batch")
	lr := f.Float64("lr", def.LR, "Adam learning rate")
	gamma := f.Float64("gamma", def.Gamma, "retriever softmax temperature")
	negs := f.Int("negatives", def.Negatives, "random corpus negatives per query (0: none)")
	noInBatch := f.Bool("no-in-batch", false, "disable in-batch negatives")
	l2 := f.Float64("l2", def.L2, "weight of the pull ||W - I||^2 toward the identity")
	seed := f.Uint64("seed", def.Seed, "random seed (batches, negatives, low-rank init)")
	rank := f.Int("rank", 0, "0: full d×d W; r > 0: W = I + U Vᵀ of rank r")
	cosine := f.Bool("cosine", def.Cosine, "score normalized adapted queries in the loss")
	keepUniform := f.Bool("keep-uniform", false, "keep records whose teacher distribution is uniform")
	version := f.Int("version", 0, "checkpoint version (default: the existing --out's version + 1, else 1)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("index", "out"); err != nil {
		return err
	}
	if len(data) == 0 {
		return usagef("--data is required")
	}
	for _, d := range data {
		if err := mustExist("data", d); err != nil {
			return err
		}
	}
	if *evalPath != "" {
		if err := mustExist("eval", *evalPath); err != nil {
			return err
		}
	}
	if *negs < 0 || *steps < 0 || *batch <= 0 || *rank < 0 {
		return usagef("--negatives, --steps and --rank must be >= 0 and --batch > 0")
	}
	cfg := train.Config{Steps: *steps, Batch: *batch, LR: *lr, Gamma: *gamma, L2: *l2, Negatives: *negs, NoInBatch: *noInBatch,
		Rank: *rank, Seed: *seed, Cosine: *cosine}
	if cfg.Negatives == 0 {
		cfg.Negatives = -1 // WithDefaults: negative means none
	}
	if err := cfg.WithDefaults().Validate(); err != nil {
		return usagef("%v", err)
	}

	ops := retrievalOpeners()
	ops["dense"] = dense.Opener(dense.OpenOptions{Name: *denseName})
	ix, r, err := openRetrieverWith(ctx, ops, "index", *index, "dense")
	if err != nil {
		return err
	}
	defer ix.Close()
	base := r.(*dense.Retriever)
	defer base.Close()
	emb := base.Embedder()

	var recs []schemas.Scored
	for _, d := range data {
		rs, err := readScoredFile(ctx, d)
		if err != nil {
			return fmt.Errorf("--data %s: %w", d, err)
		}
		fmt.Fprintf(sio.out, "data %s: %d records\n", d, len(rs))
		recs = append(recs, rs...)
	}
	t0 := time.Now()
	pass, err := train.EmbedCorpus(ctx, emb, ix.Docs)
	if err != nil {
		return err
	}
	ds := train.NewDataset()
	ds.KeepUniform = *keepUniform
	if _, err := ds.Add(ctx, emb, pass, recs); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "training examples: %d (skipped: %v); %d passages embedded in %.1fs\n", ds.Len(), ds.Skipped, pass.Len(), time.Since(t0).Seconds())
	if ds.Len() == 0 {
		return errors.New("no usable training records (all uniform, invalid or duplicate?)")
	}

	var ev *train.Evaluator
	var before map[string]float64
	overlap := 0
	if *evalPath != "" {
		qs, dropped, err := train.ReadEvalQueries(*evalPath)
		if err != nil {
			return err
		}
		guard := train.NewLeakGuard()
		for _, rec := range recs {
			guard.Add(rec.ID, rec.Query)
		}
		var lerr error
		overlap, lerr = guard.Check(qs, *force)
		fmt.Fprintf(sio.out, "leakage check: %d of %d evaluation questions are in the training data%s\n", overlap, len(qs),
			map[bool]string{true: " (FORCED: results are not held-out)", false: ""}[overlap > 0 && *force])
		if lerr != nil {
			return usagef("--eval %s: %v (--force to evaluate anyway)", *evalPath, lerr)
		}
		if dropped > 0 {
			fmt.Fprintf(sio.err, "lsrflow train: %d evaluation lines without gold_doc_ids skipped\n", dropped)
		}
		if ev, err = train.NewEvaluator(ctx, emb, qs, nil, train.DenseSearch(base)); err != nil {
			return err
		}
		if before, err = ev.Eval(ctx, nil); err != nil {
			return err
		}
	}

	tr, err := train.NewTrainer(cfg, pass, ds)
	if err != nil {
		return usagef("%v", err)
	}
	t1 := time.Now()
	if err := tr.Train(ctx, tr.Cfg.Steps); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "trained %d steps of %d in %.1fs, last batch loss %.4f\n", tr.StepsDone, tr.Cfg.Batch, time.Since(t1).Seconds(), tr.LastLoss)

	v := *version
	if v <= 0 {
		v = 1
		if old, err := adapter.Load(*out); err == nil {
			v = old.Meta.Version + 1
		}
	}
	ci := train.CheckpointInfo{Version: v, BaseEmbedder: emb.Name(), EvalSet: *evalPath, EvalOverlap: overlap, Baseline: before}
	if e, ok := ix.Manifest.DenseByName(*denseName); ok {
		ci.IndexVersion = e.Version
	}
	a, err := tr.Adapter(ci)
	if err != nil {
		return err
	}
	if ev != nil {
		if ci.Metrics, err = ev.Eval(ctx, a); err != nil {
			return err
		}
		if a, err = tr.Adapter(ci); err != nil {
			return err
		}
		fmt.Fprintf(sio.out, "gold recall on %s (%d questions):\n", *evalPath, len(ev.Queries))
		for _, k := range ev.Ks {
			n := train.MetricName(k)
			fmt.Fprintf(sio.out, "  @%-3d before %.3f  after %.3f  (%+.3f)\n", k, before[n], ci.Metrics[n], ci.Metrics[n]-before[n])
		}
	}
	if err := a.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "adapter %s -> %s\n", a.Version(), *out)
	return nil
}

// loadAdapterFor loads an adapter checkpoint for a dense retriever (used by retrieve --adapter).
func loadAdapterFor(path string, r *dense.Retriever) (*adapter.Linear, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("--adapter %s: %v", path, err)
	}
	a, err := adapter.Load(path)
	if err != nil {
		return nil, err
	}
	if err := a.Check(r.Embedder().Name(), r.Embedder().Dim()); err != nil {
		return nil, usagef("--adapter: %v", err)
	}
	return a, nil
}
