package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/internal/progress"
	"github.com/lsrflow/lsrflow/processors/evaluate"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/sinks/jsonl"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
)

// Stage names: they label metrics, logs and dead letters.
const (
	StageIngest      = "ingest"
	StageRetrieve    = "retrieve"
	StageTeach       = "teach"
	StageSinkScored  = "sink-scored"
	StageSinkDead    = "sink-dead-letters"
	StageEvaluate    = "evaluate"
	StageTrain       = "train"
	EvalStreamFile   = "eval-stream.json"
	ScoredFile       = "scored.jsonl"
	DeadLettersFile  = "dead-letters.jsonl"
	MetricsFile      = "metrics.jsonl"
	SummaryFile      = "summary.json"
	defaultPartition = 3
	// maxScoredLine bounds one scored record when the log is read back (k passages of text).
	maxScoredLine = 64 << 20
	// evalGrace bounds how long a finished run waits for the evaluate stage to catch up.
	evalGrace = 5 * time.Second
)

// QueryFormat says how the query file is read.
type QueryFormat string

// Query file formats.
const (
	FormatAuto    QueryFormat = "auto"    // .jsonl/.json: dataset; anything else: log
	FormatDataset QueryFormat = "dataset" // FlashRAG dataset jsonl, every line an object
	FormatLog     QueryFormat = "log"     // raw query log: JSON objects or plain-text lines
)

// SynthOptions configure a batch synthesis run.
type SynthOptions struct {
	Transport streams.Transport
	Retriever retrieval.Retriever
	Teacher   teachers.Teacher
	TopK      int
	// QueriesPath is the query file; Format how to read it.
	QueriesPath string
	Format      QueryFormat
	// OutDir receives scored.jsonl, dead-letters.jsonl, metrics.jsonl, summary.json.
	OutDir string
	// ExtraScoredSinks receive every scored record too (e.g. Parquet). Closed by Synth.
	ExtraScoredSinks []sinks.Sink[schemas.Scored]
	Topics           Topics
	Partitions       int
	// Concurrency per stage name (defaults: retrieve 2, teach 2).
	Concurrency  map[string]int
	MaxLineBytes int
	Retry        streams.Backoff
	Metrics      *streams.Metrics
	Log          *slog.Logger
	// Progress receives a live progress line when it is a terminal (nil: none).
	Progress io.Writer
	// Sync makes the sinks fsync before inputs are committed (survives machine crashes).
	Sync bool
	// Evaluator, if set, runs as the evaluate stage on the candidates topic; its running
	// metrics per retriever version are written to eval-stream.json at the end.
	Evaluator *evaluate.Processor
	// Trainer, if set, runs as the train stage on the scored topic and publishes retriever
	// updates; Follow is then started with the retrieve stage's processor and applies them
	// while the run goes on (live refresh: later queries use the newer retriever).
	Trainer streams.Processor
	Follow  func(ctx context.Context, target RetrieverSwapper) error
	// OnTaught sees every record the teach stage emits (metrics).
	OnTaught func(schemas.Scored)
	// TrainGrace bounds how long a finished run waits for the train stage to consume the
	// last records (default 60s).
	TrainGrace time.Duration
	// ExactlyOnce runs retrieve, teach and evaluate as exactly-once stages (Kafka
	// transactions; the transport must implement streams.TxnSubscriber).
	ExactlyOnce bool
	// ResumeGrace: when a run that took queries up from the topics sees no query finish for
	// this long, it publishes those still unfinished again, once (default 2m). It guards the
	// case where the topics and the output directory disagree, e.g. a scored.jsonl removed
	// after its records were committed.
	ResumeGrace time.Duration
}

// Summary counts what a run did.
type Summary struct {
	Lines        int            `json:"lines"`
	Valid        int            `json:"valid_queries"`
	AlreadyDone  int            `json:"already_done"`
	Ingested     int            `json:"ingested"`
	BadLines     int            `json:"bad_lines"`
	Scored       int            `json:"scored"`
	NoRelevant   int            `json:"scored_without_relevant_passage"`
	DeadLettered map[string]int `json:"dead_lettered_by_stage"`
	// InTopics counts pending queries an earlier run had published already: not published
	// again, they were taken up where the consumer groups had committed.
	InTopics        int     `json:"resumed_from_topics"`
	ScoredTotal     int     `json:"scored_total_in_output"`
	Seconds         float64 `json:"seconds"`
	QueriesPerSec   float64 `json:"queries_per_second"`
	TeacherKey      string  `json:"teacher_key"`
	RetrieverMethod string  `json:"retriever"`
}

func (o *SynthOptions) validate() error {
	switch {
	case o.Transport == nil:
		return errors.New("synth: a transport is required")
	case o.Retriever == nil:
		return errors.New("synth: a retriever is required")
	case o.Teacher == nil:
		return errors.New("synth: a teacher is required")
	case o.TopK <= 0:
		return fmt.Errorf("synth: topk must be positive, got %d", o.TopK)
	case o.OutDir == "":
		return errors.New("synth: an output directory is required")
	}
	if o.Format == "" {
		o.Format = FormatAuto
	}
	if o.Topics == (Topics{}) {
		o.Topics = DefaultTopics("")
	}
	if o.Partitions <= 0 {
		o.Partitions = defaultPartition
	}
	if o.Metrics == nil {
		o.Metrics = streams.NewMetrics(nil)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Synth runs ingest -> retrieve -> teach -> sinks until every valid query of the file is
// finished, or ctx is cancelled (then it stops cleanly and a re-run resumes).
func Synth(ctx context.Context, o SynthOptions) (Summary, error) {
	start := time.Now()
	if err := o.validate(); err != nil {
		return Summary{}, err
	}
	teacherKey := o.Teacher.Identity().Key()
	sum := Summary{DeadLettered: map[string]int{}, TeacherKey: teacherKey, RetrieverMethod: o.Retriever.Info().Method}

	scored, dead, err := openSinks(o.OutDir, o.Sync)
	if err != nil {
		return sum, err
	}
	defer scored.Close()
	defer dead.Close()
	for _, s := range o.ExtraScoredSinks {
		defer s.Close()
	}

	// What is already finished: scored by this teacher, or dead-lettered past ingest.
	done := newDoneSet()
	if err := resumeFromLog(ctx, filepath.Join(o.OutDir, ScoredFile), teacherKey, done, o.ExtraScoredSinks); err != nil {
		return sum, err
	}
	if err := done.loadDead(ctx, filepath.Join(o.OutDir, DeadLettersFile)); err != nil {
		return sum, err
	}

	queries, ingestDead, err := readQueries(o.QueriesPath, o.Format, o.MaxLineBytes, &sum)
	if err != nil {
		return sum, err
	}
	var pending []schemas.Query
	for _, q := range queries {
		if done.has(queryKey(q.ID)) {
			sum.AlreadyDone++
			continue
		}
		pending = append(pending, q)
	}
	ingestDead = slices.DeleteFunc(ingestDead, func(d schemas.DeadLetter) bool { return done.has(ingestKey(d.Key)) })
	// The run is complete when every pending query is finished and every ingest dead letter
	// is written (the dead-letter sink acknowledges them like any other record).
	expected := make(map[string]struct{}, len(pending)+len(ingestDead))
	for _, q := range pending {
		expected[queryKey(q.ID)] = struct{}{}
	}
	for _, d := range ingestDead {
		expected[ingestKey(d.Key)] = struct{}{}
	}
	done.expect(expected)

	// What an earlier run of this output directory already published is still in the topics
	// (the groups carry on with it from their commits): publish only the rest.
	readStart := time.Now()
	inTopic, deadInTopic, err := published(ctx, o.Transport, o.OutDir, o.Topics)
	if err != nil {
		return sum, err
	}
	if inTopic != nil {
		o.Log.Info("read back what earlier runs published", "queries", len(inTopic), "ingest_dead_letters", len(deadInTopic),
			"took", time.Since(readStart).Round(time.Millisecond))
	}
	toPublish := slices.DeleteFunc(slices.Clone(pending), func(q schemas.Query) bool { return inTopic[q.ID] })
	deadToPublish := slices.DeleteFunc(slices.Clone(ingestDead), func(d schemas.DeadLetter) bool { return deadInTopic[d.Key] })
	sum.InTopics = len(pending) - len(toPublish)

	if err := o.Transport.EnsureTopics(ctx,
		streams.TopicSpec{Name: o.Topics.Queries, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: o.Topics.Candidates, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: o.Topics.Scored, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: o.Topics.DeadLetters, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: o.Topics.Metrics, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: o.Topics.Updates, Partitions: 1, ReplicationFactor: 1, Compacted: true},
	); err != nil {
		return sum, fmt.Errorf("synth: creating topics: %w", err)
	}

	if len(pending) == 0 && len(ingestDead) == 0 {
		sum.ScoredTotal = scored.Len()
		sum.Seconds = time.Since(start).Seconds()
		return sum, writeSummary(filepath.Join(o.OutDir, SummaryFile), sum)
	}
	if err := writeStreamState(o.OutDir, o.Topics); err != nil {
		return sum, err
	}
	bar := progress.New(o.Progress, "synth", len(expected))
	done.onFinish = func() { bar.Add(1) }
	stats := newStageStats()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runner := streams.NewRunner(o.Transport, o.Metrics, o.Log)
	deps := StageDeps{
		Topics: o.Topics, Retriever: o.Retriever, TopK: o.TopK, Teacher: o.Teacher,
		ScoredSinks: append([]sinks.Sink[schemas.Scored]{scored}, o.ExtraScoredSinks...),
		OnScored: func(s schemas.Scored, isNew bool) {
			if s.TeacherKey == teacherKey {
				done.finish(queryKey(s.ID), func() {
					sum.Scored++
					if s.NumRelevant == 0 && len(s.AnswerMatch) > 0 {
						sum.NoRelevant++
					}
				})
			}
		},
		DeadSink: dead,
		OnDead: func(d schemas.DeadLetter, isNew bool) {
			if d.Stage == StageIngest {
				done.finish(ingestKey(d.Key), nil)
				return
			}
			done.finish(queryKey(d.Key), func() { sum.DeadLettered[d.Stage]++ })
		},
		Concurrency: o.Concurrency, Retry: o.Retry, ExactlyOnce: o.ExactlyOnce,
	}
	if o.Evaluator != nil { // a nil *evaluate.Processor must stay a nil interface
		deps.Evaluator = o.Evaluator
	}
	deps.Trainer = o.Trainer
	deps.OnTaught = o.OnTaught
	// The evaluate stage reads the candidates topic on its own; the run waits (briefly) for it
	// to have seen every candidate set, so that eval-stream.json covers the whole run.
	evaluated := newDoneSet()
	evalExpected := make(map[string]struct{}, len(pending))
	for _, q := range pending {
		evalExpected[queryKey(q.ID)] = struct{}{}
	}
	evaluated.expect(evalExpected)
	// The train stage sees scored records only (not dead-lettered queries): it is waited for
	// with a bound, like evaluate.
	trained := newDoneSet()
	trained.expect(maps.Clone(evalExpected))
	var retrieveProc RetrieverSwapper
	var stages []streams.Stage
	for _, name := range StageNames() {
		if (name == StageEvaluate && o.Evaluator == nil) || (name == StageTrain && o.Trainer == nil) {
			continue
		}
		st, err := BuildStage(name, deps)
		if err != nil {
			return sum, err
		}
		observe := stats.observe(st.Name)
		st.OnDone = observe
		switch name {
		case StageEvaluate:
			st.OnDone = func(in streams.Message, outs []streams.Message, dead bool) {
				observe(in, outs, dead)
				evaluated.finish(queryKey(string(in.Key)), nil)
			}
		case StageTrain:
			st.OnDone = func(in streams.Message, outs []streams.Message, dead bool) {
				observe(in, outs, dead)
				trained.finish(queryKey(string(in.Key)), nil)
			}
		case StageRetrieve:
			if o.Follow != nil {
				retrieveProc, _ = st.Processor.(RetrieverSwapper)
			}
		}
		stages = append(stages, st)
	}
	var wg sync.WaitGroup
	stageErrs := make(chan error, len(stages)+1)
	for _, st := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runner.Run(runCtx, st); err != nil {
				stageErrs <- err
				cancel()
			}
		}()
	}
	if o.Follow != nil && retrieveProc != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Follow(runCtx, retrieveProc); err != nil {
				stageErrs <- fmt.Errorf("retriever updates: %w", err)
				cancel()
			}
		}()
	}
	stats.add(StageIngest, 0, 0, 0)
	for _, st := range stages {
		stats.add(st.Name, 0, 0, 0) // every stage appears in the first sample
	}
	stopMetrics := stats.writeLoop(filepath.Join(o.OutDir, MetricsFile), time.Second)

	// Ingest: dead letters for bad lines, then the queries not yet published, in batches.
	ingestErr := ingest(runCtx, o.Transport, o.Topics, deadToPublish, toPublish)
	if ingestErr == nil {
		sum.Ingested = len(toPublish)
		stats.add(StageIngest, len(queries)+len(ingestDead), len(toPublish), len(deadToPublish))
		ingestErr = awaitDone(runCtx, o, done, pending, inTopic)
		// The side stages read topics the completion does not wait on: give them a bounded
		// time to catch up. Candidate sets dead-lettered by retrieve never reach evaluate, and
		// dead-lettered queries never reach train, hence the bounds.
		if o.Evaluator != nil {
			waitAtMost(runCtx, evaluated.all, evalGrace)
		}
		if o.Trainer != nil && !waitAtMost(runCtx, trained.all, cmp.Or(o.TrainGrace, 60*time.Second)) && runCtx.Err() == nil {
			o.Log.Warn("train stage did not consume every record in time; it resumes from its commits")
		}
	}
	cancel()
	wg.Wait()
	stopMetrics()
	bar.Done()
	close(stageErrs)
	var errs []error
	if ingestErr != nil && ctx.Err() == nil {
		errs = append(errs, ingestErr)
	}
	for err := range stageErrs {
		errs = append(errs, err)
	}
	sum.ScoredTotal = scored.Len()
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.QueriesPerSec = float64(sum.Scored) / sum.Seconds
	}
	if err := writeSummary(filepath.Join(o.OutDir, SummaryFile), sum); err != nil {
		errs = append(errs, err)
	}
	if o.Evaluator != nil {
		if err := writeEvalStream(filepath.Join(o.OutDir, EvalStreamFile), o.Evaluator, o.Retriever.Info()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && ctx.Err() != nil {
		return sum, ctx.Err()
	}
	return sum, errors.Join(errs...)
}

func openSinks(outDir string, sync bool) (*jsonl.Sink[schemas.Scored], *jsonl.Sink[schemas.DeadLetter], error) {
	scored, err := jsonl.Open(filepath.Join(outDir, ScoredFile), jsonl.Options[schemas.Scored]{
		Key: schemas.Scored.DedupKey, Decode: schemas.DecodeScored, Sync: sync,
	})
	if err != nil {
		return nil, nil, err
	}
	dead, err := jsonl.Open(filepath.Join(outDir, DeadLettersFile), jsonl.Options[schemas.DeadLetter]{
		Key: schemas.DeadLetter.DedupKey, Decode: schemas.DecodeDeadLetter, Sync: sync,
	})
	if err != nil {
		scored.Close()
		return nil, nil, err
	}
	return scored, dead, nil
}

// readQueries reads the query file: valid queries in file order (first occurrence of an id
// wins) and dead letters for bad lines and repeated ids.
func readQueries(path string, format QueryFormat, maxLine int, sum *Summary) ([]schemas.Query, []schemas.DeadLetter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening queries: %w", err)
	}
	defer f.Close()
	if format == FormatAuto || format == "" {
		format = FormatLog
		if ext := strings.ToLower(filepath.Ext(path)); ext == ".jsonl" || ext == ".json" {
			format = FormatDataset
		}
	}
	decode := schemas.DecodeQuery
	if format == FormatLog {
		decode = schemas.DecodeLogLine
	}
	lr := schemas.NewLineReader(f, maxLine)
	seen := map[string]int{}
	var qs []schemas.Query
	var dead []schemas.DeadLetter
	base := filepath.Base(path)
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", path, err)
		}
		sum.Lines++
		bad := func(err error) {
			dead = append(dead, schemas.DeadLetter{
				SchemaVersion: schemas.DeadLetterVersion, Stage: StageIngest, Reason: streams.ReasonOf(err),
				Error: err.Error(), Topic: base, Offset: int64(line.Number), Key: base + ":" + strconv.Itoa(line.Number),
				Payload: line.Bytes, Time: time.Now().UTC(),
			})
			sum.BadLines++
		}
		if line.Err != nil {
			bad(line.Err)
			continue
		}
		q, err := decode(line.Bytes)
		if err != nil {
			bad(err)
			continue
		}
		if first, ok := seen[q.ID]; ok {
			bad(schemas.Errorf("duplicate_id", "id %q already used on line %d", q.ID, first))
			continue
		}
		seen[q.ID] = line.Number
		if q.Source == "" {
			q.Source = base
		}
		qs = append(qs, q)
		sum.Valid++
	}
	return qs, dead, nil
}

func ingest(ctx context.Context, pub streams.Publisher, t Topics, dead []schemas.DeadLetter, qs []schemas.Query) error {
	const batch = 256
	var msgs []streams.Message
	for _, d := range dead {
		b, _ := schemas.Encode(d)
		msgs = append(msgs, streams.Message{Key: []byte(d.Key), Value: b})
	}
	if err := publishBatches(ctx, pub, t.DeadLetters, msgs, batch); err != nil {
		return fmt.Errorf("ingest: publishing dead letters: %w", err)
	}
	msgs = msgs[:0]
	for _, q := range qs {
		b, err := schemas.Encode(q)
		if err != nil {
			return fmt.Errorf("ingest: encoding %s: %w", q.ID, err)
		}
		msgs = append(msgs, streams.Message{Key: []byte(q.ID), Value: b})
	}
	if err := publishBatches(ctx, pub, t.Queries, msgs, batch); err != nil {
		return fmt.Errorf("ingest: publishing queries: %w", err)
	}
	return nil
}

func publishBatches(ctx context.Context, pub streams.Publisher, topic string, msgs []streams.Message, n int) error {
	for i := 0; i < len(msgs); i += n {
		if err := pub.Publish(ctx, topic, msgs[i:min(i+n, len(msgs))]...); err != nil {
			return err
		}
	}
	return nil
}

func writeSummary(path string, s Summary) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Keys of the done set: queries and ingest dead letters live in separate namespaces.
func queryKey(id string) string   { return "q\x00" + id }
func ingestKey(key string) string { return "ingest\x00" + key }

// resumeFromLog reads the scored log once, streaming: every record by this teacher marks its
// query done, and every record goes to the extra sinks. scored.jsonl is the log of record:
// extra sinks buffer until Flush, so after a crash they may lack records the log has; they
// de-duplicate what they already hold. Lines that do not decode (a torn tail, a foreign line)
// are not ours to replay and are skipped.
func resumeFromLog(ctx context.Context, logPath, teacherKey string, done *doneSet, extra []sinks.Sink[schemas.Scored]) error {
	_, err := schemas.DecodeFile(ctx, logPath, maxScoredLine, schemas.DecodeScored, func(r schemas.Scored) error {
		if r.TeacherKey == teacherKey {
			done.mark(queryKey(r.ID))
		}
		for _, s := range extra {
			if _, err := s.Write(ctx, r); err != nil {
				return fmt.Errorf("catching up a sink from %s: %w", logPath, err)
			}
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range extra {
		if err := s.Flush(ctx); err != nil {
			return fmt.Errorf("catching up a sink from %s: %w", logPath, err)
		}
	}
	return nil
}

// IngestOptions configure a one-shot ingest: a query file published onto the queries topic.
type IngestOptions struct {
	Publisher    streams.Publisher
	Topics       Topics
	QueriesPath  string
	Format       QueryFormat
	MaxLineBytes int
}

// Ingest reads a query file and publishes its valid queries to the queries topic and a dead
// letter for each bad line to the dead-letter topic (`lsrflow run --stage ingest`). Each query
// is published once per call; downstream sinks de-duplicate repeated ingests.
func Ingest(ctx context.Context, o IngestOptions) (Summary, error) {
	sum := Summary{DeadLettered: map[string]int{}}
	qs, dead, err := readQueries(o.QueriesPath, o.Format, o.MaxLineBytes, &sum)
	if err != nil {
		return sum, err
	}
	if err := ingest(ctx, o.Publisher, o.Topics, dead, qs); err != nil {
		return sum, err
	}
	sum.Ingested = len(qs)
	return sum, nil
}

// writeEvalStream writes what the evaluate stage measured on this run's candidate sets, as an
// eval-*.json file `lsrflow report` plots. These are the run's own (training) questions, so
// the label says so: held-out numbers come from `lsrflow eval` on an evaluation set.
func writeEvalStream(path string, ev *evaluate.Processor, info schemas.RetrieverInfo) error {
	m, n := ev.Snapshot(info.Version)
	if n == 0 {
		return nil
	}
	out := map[string]any{"label": "stream (train)", "kind": "retrieval", "n": n, "retriever": info.Method, "retriever_version": info.Version}
	for k, v := range m {
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// awaitDone waits until every expected id is finished or ctx ends. If queries were taken up
// from the topics (inTopic) and nothing finishes for o.ResumeGrace, those still unfinished are
// published again, once: the topics no longer hold them for any group.
func awaitDone(ctx context.Context, o SynthOptions, done *doneSet, pending []schemas.Query, inTopic map[string]bool) error {
	grace := cmp.Or(o.ResumeGrace, 2*time.Minute)
	tick := time.NewTicker(min(grace/4, time.Second))
	defer tick.Stop()
	republished := len(inTopic) == 0
	for {
		select {
		case <-done.all:
			return nil
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if republished || done.idle() < grace {
			continue
		}
		republished = true
		var again []schemas.Query
		for _, q := range pending {
			if inTopic[q.ID] && done.waitingFor(queryKey(q.ID)) {
				again = append(again, q)
			}
		}
		if len(again) == 0 {
			continue
		}
		o.Log.Warn("queries taken up from the topics have not finished; publishing them again",
			"queries", len(again), "idle", grace)
		if err := ingest(ctx, o.Transport, o.Topics, nil, again); err != nil {
			return err
		}
	}
}

// waitAtMost waits until done is closed, d has passed or ctx is done; it reports whether done
// was closed.
func waitAtMost(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
