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
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/train"
)

// newTrainStage builds the train stage of a topology (c.Train) over the dense retriever r of
// index ix, and the follower that applies its updates to the running retrieve stage.
func newTrainStage(ctx context.Context, c *pipeline.Config, ix *retrieval.Index, r retrieval.Retriever,
	sub streams.Subscriber, topics pipeline.Topics, reg prometheus.Registerer, log *slog.Logger) (*ptrain.Processor, func(context.Context, pipeline.RetrieverSwapper) error, error) {
	tc := c.Train
	base, ok := r.(*dense.Retriever)
	if !ok {
		return nil, nil, usagef("train: needs retrieval_method dense (got %s)", r.Info().Method)
	}
	if err := mustExist("train.eval_path", tc.EvalPath); err != nil {
		return nil, nil, err
	}
	emb := base.Embedder()
	pass, err := train.EmbedCorpus(ctx, emb, ix.Docs)
	if err != nil {
		return nil, nil, fmt.Errorf("train: embedding the corpus: %w", err)
	}
	cfg := train.Config{Gamma: tc.Gamma, L2: tc.L2, LR: tc.LR, Negatives: tc.Negatives, Seed: tc.Seed}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, usagef("train: %v", err)
	}
	tr, err := train.NewTrainer(cfg, pass, train.NewDataset())
	if err != nil {
		return nil, nil, usagef("train: %v", err)
	}
	qs, _, err := train.ReadEvalQueries(tc.EvalPath)
	if err != nil {
		return nil, nil, usagef("train.eval_path: %v", err)
	}
	ev, err := train.NewEvaluator(ctx, emb, qs, nil, train.DenseSearch(base))
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(tc.CheckpointDir, 0o755); err != nil {
		return nil, nil, err
	}
	onRound := trainMetrics(reg)
	proc, err := ptrain.New(ctx, ptrain.Options{Trainer: tr, Embedder: emb, Evaluator: ev, Every: tc.Every,
		StepsPerRound: tc.StepsPerRound, Dir: tc.CheckpointDir, UpdatesTopic: topics.Updates,
		IndexVersion: base.Info().Version, Force: tc.Force,
		OnRound: func(rd ptrain.Round) {
			onRound(rd)
			log.Info("train round", "candidate", rd.Candidate, "published", rd.Published, "records", rd.Records,
				"steps", rd.Steps, "loss", rd.Loss, "metrics", fmtMetrics(rd.Metrics))
		}})
	if err != nil {
		return nil, nil, err
	}
	follow, err := newFollower(r, sub, topics, log)
	return proc, follow, err
}

// newFollower returns the function a retrieve process runs to apply retriever updates to its
// retrieve stage. Each process follows in its own group: every process applies every update.
func newFollower(r retrieval.Retriever, sub streams.Subscriber, topics pipeline.Topics, log *slog.Logger) (func(context.Context, pipeline.RetrieverSwapper) error, error) {
	base, ok := r.(*dense.Retriever)
	if !ok {
		return nil, usagef("train: needs retrieval_method dense (got %s)", r.Info().Method)
	}
	group := "lsrflow-follower-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	return func(ctx context.Context, target pipeline.RetrieverSwapper) error {
		f := &ptrain.Follower{Sub: sub, Topic: topics.Updates, Group: group, Base: base, Target: target, Log: log}
		return f.Run(ctx)
	}, nil
}

// reportTraining prints the train stage's rounds, appends them to DIR/train-rounds.jsonl and
// writes the last published version's held-out metrics as saveDir/eval-live.json for the report.
func reportTraining(sio stdio, p *ptrain.Processor, dir, saveDir string) {
	rounds := p.Rounds()
	if len(rounds) == 0 {
		fmt.Fprintln(sio.err, "lsrflow: train stage: no round yet (fewer records than train.every)")
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "train-rounds.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		enc := json.NewEncoder(f)
		for _, r := range rounds {
			_ = enc.Encode(r)
		}
		f.Close()
	}
	var last *ptrain.Round
	for i, r := range rounds {
		state := "kept the current version (not better)"
		if r.Published {
			state = "published"
			last = &rounds[i]
		}
		fmt.Fprintf(sio.out, "train round %d: %d records, %d steps, loss %.4f, held-out %s -> v%d %s\n",
			i+1, r.Records, r.Steps, r.Loss, fmtMetrics(r.Metrics), r.Candidate, state)
	}
	if last != nil {
		out := map[string]any{"label": fmt.Sprintf("live v%d", last.Candidate), "kind": "retrieval"}
		for k, v := range last.Metrics {
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
