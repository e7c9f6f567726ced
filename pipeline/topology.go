package pipeline

import (
	"fmt"
	"strings"

	"github.com/lsrflow/lsrflow/processors/retrieve"
	"github.com/lsrflow/lsrflow/processors/sink"
	"github.com/lsrflow/lsrflow/processors/teach"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
)

// StageNames lists the long-running stages of the topology, in data-flow order.
func StageNames() []string {
	return []string{StageRetrieve, StageTeach, StageSinkScored, StageSinkDead, StageEvaluate, StageTrain}
}

// RetrieverSwapper replaces the retriever of a running retrieve stage (a new adapter version).
type RetrieverSwapper interface {
	Swap(r retrieval.Retriever)
}

// StageDeps are what the stages need. A process that runs a single stage (`lsrflow run
// --stage NAME`) fills in only what that stage uses.
type StageDeps struct {
	Topics Topics
	// retrieve
	Retriever retrieval.Retriever
	TopK      int
	// teach
	Teacher teachers.Teacher
	// OnTaught, if set, sees every record the teach stage emits (metrics).
	OnTaught func(schemas.Scored)
	// sink-scored: every record goes to each sink (the first one's "new" flag is reported).
	ScoredSinks []sinks.Sink[schemas.Scored]
	OnScored    func(rec schemas.Scored, isNew bool)
	// sink-dead-letters
	DeadSink sinks.Sink[schemas.DeadLetter]
	OnDead   func(rec schemas.DeadLetter, isNew bool)
	// evaluate: consumes candidates, emits per-query metrics to the metrics topic.
	Evaluator streams.Processor
	// train: consumes scored records, publishes retriever updates (its messages name the
	// updates topic themselves).
	Trainer streams.Processor

	Concurrency map[string]int
	Retry       streams.Backoff
	// ExactlyOnce: retrieve, teach and evaluate commit outputs and offsets in transactions
	// (Kafka). The sinks stay at-least-once with idempotent writes; train keeps its model in
	// memory, which a transaction cannot roll back.
	ExactlyOnce bool
}

// BuildStage returns the named stage, ready for streams.Runner.Run.
func BuildStage(name string, d StageDeps) (streams.Stage, error) {
	conc := func(def int) int {
		if n, ok := d.Concurrency[name]; ok && n > 0 {
			return n
		}
		return def
	}
	// MaxInFlight is what a crash makes a stage redo: small for the stages whose outputs
	// multiply downstream work, large for the scored sink (a redone write is de-duplicated,
	// and every commit flushes the sinks).
	st := streams.Stage{Name: name, DeadLetters: d.Topics.DeadLetters, Retry: d.Retry, MaxInFlight: 32}
	switch name {
	case StageRetrieve:
		if d.Retriever == nil || d.TopK <= 0 {
			return st, fmt.Errorf("stage %s needs a retriever and a positive topk", name)
		}
		st.Input, st.Output = d.Topics.Queries, d.Topics.Candidates
		st.Processor = retrieve.New(d.Retriever, d.TopK)
		// A batching retriever needs many queries in flight to fill its batches.
		st.Concurrency = conc(2)
		if retrieve.DefaultBatching(d.Retriever).MaxBatch > 1 {
			st.Concurrency = conc(retrieve.BatchConcurrency)
		}
		st.MaxInFlight = max(32, 4*st.Concurrency)
	case StageTeach:
		if d.Teacher == nil {
			return st, fmt.Errorf("stage %s needs a teacher", name)
		}
		st.Input, st.Output = d.Topics.Candidates, d.Topics.Scored
		st.Processor = teach.Processor{Teacher: d.Teacher, OnScored: d.OnTaught}
		st.Concurrency = conc(2)
		st.MaxInFlight = max(32, 4*st.Concurrency)
	case StageSinkScored:
		if len(d.ScoredSinks) == 0 {
			return st, fmt.Errorf("stage %s needs at least one sink", name)
		}
		st.Input = d.Topics.Scored
		st.Processor = &sink.Processor[schemas.Scored]{Decode: schemas.DecodeScored, Sinks: d.ScoredSinks, OnWrite: d.OnScored}
		st.Concurrency = 1 // sinks append in order; one writer per file
		st.MaxInFlight = 2048
	case StageSinkDead:
		if d.DeadSink == nil {
			return st, fmt.Errorf("stage %s needs a sink", name)
		}
		st.Input = d.Topics.DeadLetters
		st.Processor = &sink.Processor[schemas.DeadLetter]{Decode: schemas.DecodeDeadLetter, Sinks: []sinks.Sink[schemas.DeadLetter]{d.DeadSink}, OnWrite: d.OnDead}
		st.Concurrency = 1
		// A dead letter that cannot be written must not loop back into its own topic.
		st.DeadLetters = d.Topics.DeadLetters + ".unwritable"
	case StageEvaluate:
		if d.Evaluator == nil {
			return st, fmt.Errorf("stage %s needs an evaluator", name)
		}
		st.Input, st.Output = d.Topics.Candidates, d.Topics.Metrics
		st.Processor = d.Evaluator
		st.Concurrency = conc(1)
	case StageTrain:
		if d.Trainer == nil {
			return st, fmt.Errorf("stage %s needs a trainer", name)
		}
		st.Input, st.Output = d.Topics.Scored, d.Topics.Updates
		st.Processor = d.Trainer
		st.Concurrency = 1 // one model, trained in record order
	default:
		return st, fmt.Errorf("unknown stage %q (stages: %s)", name, strings.Join(StageNames(), ", "))
	}
	switch name {
	case StageRetrieve, StageTeach, StageEvaluate:
		st.ExactlyOnce = d.ExactlyOnce
	}
	return st, nil
}
