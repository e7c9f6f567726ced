package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
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
	f := newFlags(sio, "train", "--index DIR --data scored.parquet|scored.jsonl [--data ...] --out adapter.safetensors [--method auto|dense|hybrid] [--eval Q.jsonl [--force]] [flags]",
		`Learns a linear map W on query embeddings (identity at the start; --rank r for W = I + U Vᵀ)
with the LSR loss KL(teacher || softmax(score / gamma)) per query over its candidates plus
random negatives drawn from the index and in-batch negatives, and an L2 pull of W toward the
identity (Adam, seeded). Passage vectors are read from the FAISS index (never re-embedded):
memory follows the training records, not the corpus. The checkpoint is a safetensors file that
'lsrflow retrieve --adapter FILE' applies.

The adapter is trained for the retriever that will serve it (--method; auto: hybrid when the
index has BM25 and a dense index, else dense). For hybrid the score is
lexical_weight * (min-max normalized BM25 score) + (W q)·p (hybrid fusion "linear"), and the
lexical weight is learned with W, then tuned on held-out training queries (--holdout: a fixed
share of the training queries, chosen by a hash of the query id, never trained on) by their
teacher hit rate. The checkpoint records the method, the fusion, the weights and which data
chose them. Records whose teacher distribution is uniform (no preference) are skipped unless
--keep-uniform.

With --eval (a FlashRAG dataset with gold_doc_ids) it prints gold-document recall@1/5/20 before
and after training (whole-corpus retrieval; for hybrid also BM25 alone and the adapted dense
retriever alone). Evaluation questions decide nothing. Those that were training questions
(same id, or same normalized question) are refused unless --force; the overlap is always
reported and recorded in the checkpoint.`)
	index := f.String("index", "", "index directory with a dense entry (lsrflow index --embedder ...)")
	var data listFlag
	f.Var(&data, "data", "scored records: .parquet or .jsonl (repeatable, or comma-separated)")
	out := f.String("out", "", "output checkpoint (.safetensors)")
	method := f.String("method", "auto", "retriever the adapter is trained for: auto (hybrid when the index has BM25), dense or hybrid")
	holdout := f.Float64("holdout", 0.1, "hybrid: share of training queries held out to tune the lexical weight (0: none; dense trains on all)")
	evalPath := f.String("eval", "", "evaluation questions (FlashRAG jsonl with gold_doc_ids)")
	force := f.Bool("force", false, "evaluate even when evaluation questions were training questions")
	denseName := f.String("dense", "", "dense entry name when the index has several")
	steps := f.Int("steps", def.Steps, "optimizer steps")
	batch := f.Int("batch", def.Batch, "queries per mini-batch")
	lr := f.Float64("lr", def.LR, "Adam learning rate")
	gamma := f.Float64("gamma", def.Gamma, "retriever softmax temperature")
	negs := f.Int("negatives", def.Negatives, "random negatives per query, drawn from a pool of index passages (0: none)")
	negPool := f.Int("neg-pool", 8192, "index passages the random negatives are drawn from (vectors read from the index once)")
	noInBatch := f.Bool("no-in-batch", false, "disable in-batch negatives")
	l2 := f.Float64("l2", def.L2, "weight of the pull ||W - I||^2 toward the identity")
	seed := f.Uint64("seed", def.Seed, "random seed (batches, negatives, low-rank init)")
	rank := f.Int("rank", 0, "0: full d×d W; r > 0: W = I + U Vᵀ of rank r")
	cosine := f.Bool("cosine", def.Cosine, "score normalized adapted queries in the loss (dense only)")
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
	if *negs < 0 || *steps < 0 || *batch <= 0 || *rank < 0 || *negPool < 0 {
		return usagef("--negatives, --neg-pool, --steps and --rank must be >= 0 and --batch > 0")
	}
	if !(*holdout >= 0 && *holdout < 1) {
		return usagef("--holdout must be in [0, 1)")
	}
	if *method != "auto" && *method != "dense" && *method != "hybrid" {
		return usagef("--method %q: want auto, dense or hybrid", *method)
	}
	cfg := train.Config{Steps: *steps, Batch: *batch, LR: *lr, Gamma: *gamma, L2: *l2, Negatives: *negs, NoInBatch: *noInBatch,
		Rank: *rank, Seed: *seed, Cosine: *cosine, NegPool: *negPool}
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
	var lex train.Lexical
	switch {
	case *method == "hybrid" && ix.Manifest.BM25 == nil:
		return usagef("--method hybrid: the index %s has no BM25 (lsrflow index builds it by default)", *index)
	case *method == "hybrid" || (*method == "auto" && ix.Manifest.BM25 != nil):
		l, err := bm25.Open(ctx, ix)
		if err != nil {
			return err
		}
		lex = train.LexicalIDs{Index: l.(*bm25.Retriever).Index(), Docs: ix.Docs}
		if cfg.Cosine {
			return usagef("--cosine trains a dense retriever; use --method dense")
		}
		cfg.LearnLex = true
	}

	var recs []schemas.Scored
	for _, d := range data {
		rs, err := readScoredFile(ctx, d)
		if err != nil {
			return fmt.Errorf("--data %s: %w", d, err)
		}
		fmt.Fprintf(sio.out, "data %s: %d records\n", d, len(rs))
		recs = append(recs, rs...)
	}
	var evalQs []train.EvalQuery
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
		evalQs = qs
	}
	v := *version
	if v <= 0 {
		v = 1
		if old, err := adapter.Load(*out); err == nil {
			v = old.Meta.Version + 1
		}
	}
	ci := train.CheckpointInfo{Version: v, BaseEmbedder: emb.Name(), EvalSet: *evalPath, EvalOverlap: overlap}
	if e, ok := ix.Manifest.DenseByName(*denseName); ok {
		ci.IndexVersion = e.Version
	}
	res, err := train.Fit(ctx, recs, train.FitOptions{Config: cfg, Embedder: emb, Vectors: base.Index(), Docs: ix.Docs,
		Dense:   train.DenseIDs{Index: base.Index(), Docs: ix.Docs},
		Lexical: lex, HoldOut: *holdout, KeepUniform: *keepUniform, Eval: evalQs, Info: ci,
		Progress: func(format string, a ...any) { fmt.Fprintf(sio.out, format+"\n", a...) }})
	if err != nil {
		return err
	}
	sv := res.Serving
	if sv.Method == "hybrid" {
		fmt.Fprintf(sio.out, "serving: hybrid, fusion linear, lexical weight %.3g (learned %.3g); weights from %s\n", sv.LexicalWeight, res.Learned, sv.WeightsFrom)
	} else {
		fmt.Fprintln(sio.out, "serving: dense")
	}
	if res.After != nil {
		fmt.Fprintf(sio.out, "gold recall on %s (%d questions), whole-corpus retrieval:\n", *evalPath, len(evalQs))
		for _, k := range train.DefaultKs {
			n := train.MetricName(k)
			line := fmt.Sprintf("  @%-3d before %.3f  after %.3f  (%+.3f)", k, res.Before[n], res.After[n], res.After[n]-res.Before[n])
			if res.BM25 != nil {
				line += fmt.Sprintf("   bm25 %.3f (%+.3f)  adapted dense alone %.3f", res.BM25[n], res.After[n]-res.BM25[n], res.DenseOnly[n])
			}
			fmt.Fprintln(sio.out, line)
		}
	}
	if err := res.Adapter.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "adapter %s -> %s\n", res.Adapter.Version(), *out)
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
