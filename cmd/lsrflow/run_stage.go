package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/lsrflow/lsrflow/pipeline"
	procevaluate "github.com/lsrflow/lsrflow/processors/evaluate"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/sinks/jsonl"
	"github.com/lsrflow/lsrflow/streams"
)

// runOneStage runs a single stage of the topology as this process, a member of the stage's
// consumer group on Kafka, until ctx is cancelled (SIGINT/SIGTERM). "ingest" publishes the
// dataset file once and returns.
func runOneStage(ctx context.Context, sio stdio, c *pipeline.Config, stage, logLevel string) error {
	if c.Transport != "kafka" {
		return usagef("--stage runs one stage as its own process and needs a shared transport: add --brokers host:port")
	}
	log, err := newLogger(sio.err, logLevel)
	if err != nil {
		return err
	}
	env, err := newRunEnv(sio, c, log, false)
	if err != nil {
		return err
	}
	defer env.close()
	if err := env.transport.EnsureTopics(ctx, topicSpecs(env.topics, c.Partitions)...); err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	log = log.With("stage", stage)

	if stage == pipeline.StageIngest {
		if err := mustExist("queries", c.DatasetPath); err != nil {
			return err
		}
		sum, err := pipeline.Ingest(ctx, pipeline.IngestOptions{Publisher: env.transport, Topics: env.topics,
			QueriesPath: c.DatasetPath, Format: pipeline.QueryFormat(c.QueriesFormat), MaxLineBytes: c.MaxLineBytes})
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.out, "ingest %s: %d queries published to %s, %d bad lines to %s\n",
			c.DatasetPath, sum.Ingested, env.topics.Queries, sum.BadLines, env.topics.DeadLetters)
		return nil
	}

	deps := pipeline.StageDeps{Topics: env.topics, TopK: c.RetrievalTopK, Concurrency: map[string]int{}}
	var follow func(context.Context, pipeline.RetrieverSwapper) error
	for name, sc := range c.Stages {
		deps.Concurrency[name] = sc.Concurrency
	}
	switch stage {
	case pipeline.StageRetrieve:
		if err := ensureIndex(ctx, sio, c); err != nil {
			return err
		}
		ix, srv, err := openConfigServing(ctx, c)
		if err != nil {
			return err
		}
		defer ix.Close()
		deps.Retriever = srv.r
		if c.Train != nil {
			if srv.base == nil {
				return usagef("train: needs retrieval_method dense or hybrid (got %s)", c.RetrievalMethod)
			}
			// Apply the train stage's retriever updates to this process's retrieve stage.
			follow = newFollower(srv, env.transport, env.topics, log)
		}
	case pipeline.StageTrain:
		if c.Train == nil {
			return usagef("--stage train needs a train: section in the config")
		}
		ix, srv, err := openConfigServing(ctx, c)
		if err != nil {
			return err
		}
		defer ix.Close()
		trainer, _, err := newTrainStage(ctx, c, ix, srv, env.transport, env.topics, env.registry, log)
		if err != nil {
			return err
		}
		defer trainer.Close()
		go func() { _ = trainer.RunTimer(ctx) }()
		deps.Trainer = trainer
	case pipeline.StageTeach:
		t, err := newTeacher(ctx, c.Teacher)
		if err != nil {
			return err
		}
		if cl, ok := t.(io.Closer); ok {
			defer cl.Close()
		}
		deps.Teacher = t
		deps.OnTaught = teacherMetrics(env.registry, t)
	case pipeline.StageSinkScored:
		s, err := jsonl.Open(filepath.Join(c.SaveDir, pipeline.ScoredFile), jsonl.Options[schemas.Scored]{
			Key: schemas.Scored.DedupKey, Decode: schemas.DecodeScored, Sync: c.Sync})
		if err != nil {
			return err
		}
		defer s.Close()
		extra, err := extraScoredSinks(ctx, c)
		if err != nil {
			return err
		}
		for _, e := range extra {
			defer e.Close()
		}
		deps.ScoredSinks = append([]sinks.Sink[schemas.Scored]{s}, extra...)
	case pipeline.StageEvaluate:
		ev, err := procevaluate.New(procevaluate.Config{Registry: env.registry})
		if err != nil {
			return err
		}
		deps.Evaluator = ev
	case pipeline.StageSinkDead:
		s, err := jsonl.Open(filepath.Join(c.SaveDir, pipeline.DeadLettersFile), jsonl.Options[schemas.DeadLetter]{
			Key: schemas.DeadLetter.DedupKey, Decode: schemas.DecodeDeadLetter, Sync: c.Sync})
		if err != nil {
			return err
		}
		defer s.Close()
		deps.DeadSink = s
	}
	st, err := pipeline.BuildStage(stage, deps)
	if err != nil {
		return usagef("--stage: %v", err)
	}
	if follow != nil {
		target, ok := st.Processor.(pipeline.RetrieverSwapper)
		if !ok {
			return fmt.Errorf("stage %s cannot swap retrievers", stage)
		}
		fctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if err := follow(fctx, target); err != nil {
				log.Error("retriever updates stopped", "err", err)
			}
		}()
	}
	log.Info("stage running", "input", st.Input, "group", "lsrflow-"+stage, "output", st.Output)
	fmt.Fprintf(sio.err, "lsrflow: stage %s consuming %s (Ctrl-C to stop)\n", stage, st.Input)
	return streams.NewRunner(env.transport, env.metrics, log).Run(ctx, st)
}

func topicSpecs(t pipeline.Topics, partitions int) []streams.TopicSpec {
	partitions = max(partitions, 1)
	var out []streams.TopicSpec
	for _, name := range []string{t.Queries, t.Candidates, t.Scored, t.DeadLetters, t.Metrics} {
		out = append(out, streams.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: 1})
	}
	// Retriever updates: one partition (a total order of versions), compacted.
	return append(out, streams.TopicSpec{Name: t.Updates, Partitions: 1, ReplicationFactor: 1, Compacted: true})
}
