package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/pipeline/flashrag"
	procevaluate "github.com/lsrflow/lsrflow/processors/evaluate"
	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/teachers"
	"github.com/lsrflow/lsrflow/teachers/answermatch"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
)

// runSynth wires a validated pipeline config into pipeline.Synth: transport, index (built from
// corpus_path when index_path has none), retriever, teacher, sinks and the metrics endpoint.
func runSynth(ctx context.Context, sio stdio, c *pipeline.Config, logLevel string) error {
	log, err := newLogger(sio.err, logLevel)
	if err != nil {
		return err
	}
	var fr *pipeline.FlashRAGRun
	if c.FlashRAG != nil {
		if fr, err = prepareFlashRAG(ctx, sio, c); err != nil {
			return err
		}
	}
	if err := mustExist("queries", c.DatasetPath); err != nil {
		return err
	}
	if err := ensureIndex(ctx, sio, c); err != nil {
		return err
	}
	ix, srv, err := openConfigServing(ctx, c)
	if err != nil {
		return err
	}
	defer ix.Close()
	r := srv.r
	if err := os.MkdirAll(c.SaveDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.SaveDir, err)
	}
	teacher, err := newTeacher(ctx, withDurableScoreCache(c.Teacher, c.SaveDir))
	if err != nil {
		return err
	}
	if cl, ok := teacher.(io.Closer); ok {
		defer cl.Close()
	}

	// synth owns its output directory: its consumers are static group members, so a run
	// restarted after a crash takes its predecessor's partitions at once.
	env, err := newRunEnv(sio, c, log, true)
	if err != nil {
		return err
	}
	defer env.close()
	tr, topics := env.transport, env.topics
	metrics := env.metrics

	conc := map[string]int{}
	for name, sc := range c.Stages {
		conc[name] = sc.Concurrency
	}
	extra, err := extraScoredSinks(ctx, c)
	if err != nil {
		return err
	}
	ev, err := procevaluate.New(procevaluate.Config{Registry: env.registry})
	if err != nil {
		return err
	}
	var trainer *ptrain.Processor
	var follow func(context.Context, pipeline.RetrieverSwapper) error
	if c.Train != nil {
		if trainer, follow, err = newTrainStage(ctx, c, ix, srv, tr, topics, env.registry, log); err != nil {
			return err
		}
		defer trainer.Close()
		tctx, stopTimer := context.WithCancel(ctx)
		defer stopTimer()
		go func() { _ = trainer.RunTimer(tctx) }()
	}
	log.Info("synth starting", "queries", c.DatasetPath, "index", c.IndexPath, "method", c.RetrievalMethod,
		"topk", c.RetrievalTopK, "teacher", teacher.Identity().Method, "transport", c.Transport, "out", c.SaveDir)
	opts := pipeline.SynthOptions{
		Transport: tr, Retriever: r, Teacher: teacher, TopK: c.RetrievalTopK,
		QueriesPath: c.DatasetPath, Format: pipeline.QueryFormat(orDefault(c.QueriesFormat, "auto")),
		OutDir: c.SaveDir, ExtraScoredSinks: extra, Topics: topics, Partitions: c.Partitions,
		Concurrency: conc, MaxLineBytes: c.MaxLineBytes, Metrics: metrics, Log: log,
		Progress: sio.err, Sync: c.Sync, Evaluator: ev, Follow: follow, ExactlyOnce: c.ExactlyOnce,
		OnTaught: teacherMetrics(env.registry, teacher),
	}
	if trainer != nil {
		opts.Trainer = trainer
	}
	sum, err := pipeline.Synth(ctx, opts)
	if trainer != nil {
		reportTraining(sio, trainer, c.SaveDir)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(sio.err, "lsrflow: interrupted after %d scored records; run the same command again to resume\n", sum.Scored)
		}
		return err
	}
	dead := 0
	for _, n := range sum.DeadLettered {
		dead += n
	}
	fmt.Fprintf(sio.out, "synth %s: %d lines, %d valid queries (%d already done), %d scored (%d without a relevant passage), %d dead-lettered in stages, %d bad lines; %.1f s, %.1f queries/s\n",
		c.SaveDir, sum.Lines, sum.Valid, sum.AlreadyDone, sum.Scored, sum.NoRelevant, dead, sum.BadLines, sum.Seconds, sum.QueriesPerSec)
	if fr != nil {
		recall, n, err := pipeline.FinishFlashRAG(ctx, c, fr)
		if err != nil {
			return err
		}
		if c.FlashRAG.SaveMetricScore {
			fmt.Fprintf(sio.out, "retrieval_recall_top%d: %s over %d scored queries (%s)\n", c.FlashRAG.RecallTopK,
				flashrag.PyFloat(recall), n, filepath.Join(c.SaveDir, flashrag.MetricScoreFile))
		}
	}
	if sum.BadLines+dead > 0 {
		fmt.Fprintf(sio.err, "lsrflow synth: %d records dead-lettered to %s\n", sum.BadLines+dead, filepath.Join(c.SaveDir, pipeline.DeadLettersFile))
	}
	return nil
}

// runEnv is what every pipeline process sets up: logging, metrics endpoint and transport.
type runEnv struct {
	log       *slog.Logger
	metrics   *streams.Metrics
	registry  *prometheus.Registry
	transport streams.Transport
	topics    pipeline.Topics
	closers   []func()
}

// newRunEnv sets up logging, metrics and the transport. static makes Kafka consumers static
// group members named after the run's topic prefix: only for a process that is the one
// consumer of its groups (synth), never for scaled-out `run --stage` processes.
func newRunEnv(sio stdio, c *pipeline.Config, log *slog.Logger, static bool) (*runEnv, error) {
	env := &runEnv{log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	env.metrics = streams.NewMetrics(reg)
	env.registry = reg
	if c.MetricsAddr != "" {
		stop, err := serveMetrics(c.MetricsAddr, reg, log)
		if err != nil {
			return nil, usagef("--metrics-addr %s: %v", c.MetricsAddr, err)
		}
		env.closers = append(env.closers, stop)
	}
	env.topics = pipeline.DefaultTopics(c.TopicPrefix)
	if c.Transport == "kafka" {
		prefix := c.TopicPrefix
		if prefix == "" {
			abs, _ := filepath.Abs(c.SaveDir)
			prefix = pipeline.RunID(abs)
		}
		env.topics = pipeline.DefaultTopics(prefix)
		kc := kafka.Config{Brokers: c.Brokers}
		if static {
			kc.InstanceID = prefix
		}
		kt, err := kafka.New(kc, kafka.WithLogger(log))
		if err != nil {
			env.close()
			return nil, usagef("--brokers: %v", err)
		}
		env.transport = kt
	} else {
		env.transport = memory.New(memory.WithDefaultPartitions(max(c.Partitions, 1)))
	}
	env.closers = append(env.closers, func() { _ = env.transport.Close() })
	return env, nil
}

func (e *runEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// ensureIndex builds a BM25 index at c.IndexPath from c.CorpusPath when none exists yet.
func ensureIndex(ctx context.Context, sio stdio, c *pipeline.Config) error {
	if _, err := retrieval.ReadManifest(c.IndexPath); err == nil {
		return nil
	}
	if c.CorpusPath == "" {
		return mustExist("index", c.IndexPath)
	}
	if err := mustExist("corpus", c.CorpusPath); err != nil {
		return err
	}
	step, err := bm25.NewStepOptions(bm25.Options{Params: bm25.DefaultParams(), TempDir: filepath.Join(c.IndexPath, bm25.Dir)})
	if err != nil {
		return err
	}
	steps := []retrieval.BuildStep{step}
	if c.IndexEmbedder != "" {
		d, err := dense.NewStep(dense.StepOptions{Embedder: c.IndexEmbedder, Factory: orDefault(c.IndexFactory, "Flat"), Progress: sio.err})
		if err != nil {
			return usagef("index_embedder: %v", err)
		}
		steps = append(steps, d)
	}
	st, err := retrieval.Build(ctx, retrieval.BuildOptions{Corpus: c.CorpusPath, Dir: c.IndexPath, MaxLineBytes: c.MaxLineBytes, Steps: steps, Progress: sio.err})
	if err != nil {
		return fmt.Errorf("building index from %s: %w", c.CorpusPath, err)
	}
	fmt.Fprintf(sio.err, "lsrflow: built index %s (%d docs, %d bad lines)\n", c.IndexPath, st.Docs, st.BadLines)
	return nil
}

// newTeacher builds the configured teacher.
func newTeacher(ctx context.Context, tc pipeline.TeacherConfig) (teachers.Teacher, error) {
	switch tc.Method {
	case answermatch.Method:
		return answermatch.New(answermatch.Options{Temperature: tc.Temperature})
	case lmteacher.MethodLSR, lmteacher.MethodSeed, lmteacher.MethodUPR, lmteacher.MethodGenLSR:
		if tc.LM == "" {
			return nil, usagef("--teacher %s needs --lm http://host:port/v1 or --lm gguf:PATH", tc.Method)
		}
		cfg := lmteacher.Config{Method: tc.Method, LM: tc.LM, Model: tc.Model, Backend: tc.Backend, Beta: tc.Temperature}
		if err := applyTeacherOptions(&cfg, tc.Options); err != nil {
			return nil, usagef("teacher options: %v", err)
		}
		cfg = cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			return nil, usagef("teacher: %v", err)
		}
		t, err := lmteacher.New(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("opening LM teacher: %w", err)
		}
		return t, nil
	default:
		return nil, usagef("--teacher %q is not a teacher (teachers: %s, %s, %s, %s, %s)", tc.Method,
			answermatch.Method, lmteacher.MethodLSR, lmteacher.MethodUPR, lmteacher.MethodGenLSR, lmteacher.MethodSeed)
	}
}

// withDurableScoreCache keeps an LM teacher's score cache in the output directory unless the
// options name a cache file or turn it off: a candidate set delivered again after a crash or
// a restart then costs no LM call.
func withDurableScoreCache(tc pipeline.TeacherConfig, outDir string) pipeline.TeacherConfig {
	if tc.Method == answermatch.Method {
		return tc
	}
	if _, ok := tc.Options["cache"]; ok {
		return tc
	}
	if v, ok := tc.Options["no_cache"]; ok && v != "false" && v != "0" {
		return tc
	}
	opts := maps.Clone(tc.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	opts["cache"] = filepath.Join(outDir, "lm-score-cache.jsonl")
	tc.Options = opts
	return tc
}

// applyTeacherOptions sets the LM teacher's tuning knobs from key=value options (the
// "teacher.options" map of a config file, or --teacher-opt flags).
func applyTeacherOptions(c *lmteacher.Config, opts map[string]string) error {
	for k, v := range opts {
		var err error
		switch k {
		case "score_transform":
			c.ScoreTransform = v
		case "combine":
			c.Combine = v
		case "length_normalize":
			c.LengthNormalize, err = strconv.ParseBool(v)
		case "prompt_file":
			c.PromptFile = v
		case "chat":
			c.Chat = v
		case "concurrency":
			c.Concurrency, err = strconv.Atoi(v)
		case "timeout":
			c.Timeout, err = time.ParseDuration(v)
		case "retries":
			c.Retries, err = strconv.Atoi(v)
		case "cache":
			c.CachePath = v
		case "no_cache":
			c.NoCache, err = strconv.ParseBool(v)
		case "context_size":
			c.ContextSize, err = strconv.Atoi(v)
		case "threads":
			c.Threads, err = strconv.Atoi(v)
		case "max_answer_tokens":
			c.MaxAnswerTokens, err = strconv.Atoi(v)
		case "tokenizer":
			c.Tokenizer = v
		default:
			return fmt.Errorf("unknown option %q (options: score_transform, combine, length_normalize, prompt_file, chat, concurrency, timeout, retries, cache, no_cache, context_size, threads, max_answer_tokens, tokenizer)", k)
		}
		if err != nil {
			return fmt.Errorf("option %s=%q: %v", k, v, err)
		}
	}
	return nil
}

// extraScoredSinks opens the sinks listed in c.Sinks besides scored.jsonl.
func extraScoredSinks(ctx context.Context, c *pipeline.Config) ([]sinks.Sink[schemas.Scored], error) {
	var out []sinks.Sink[schemas.Scored]
	for _, name := range c.Sinks {
		switch name {
		case "parquet", "arrow":
			open := parquet.Open
			if name == "arrow" {
				open = arrowipc.Open
			}
			s, err := open(ctx, arrowipc.Config{Dir: c.SaveDir, Name: "scored"})
			if err != nil {
				for _, o := range out {
					o.Close()
				}
				return nil, fmt.Errorf("opening %s sink: %w", name, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(orDefault(level, "warn"))); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// prepareFlashRAG readies a FlashRAG config (run directory, dataset rows, index) and says
// where things are and how queries are encoded.
func prepareFlashRAG(ctx context.Context, sio stdio, c *pipeline.Config) (*pipeline.FlashRAGRun, error) {
	fr, err := pipeline.PrepareFlashRAG(ctx, c, sio.err)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(sio.err, "lsrflow run: warning: %s\n", w)
	}
	c.Warnings = nil
	verb := "new run"
	if fr.Run.Resumed {
		verb = "resuming"
	}
	var splits []string
	for _, sp := range fr.Run.Splits {
		splits = append(splits, fmt.Sprintf("%s %d of %d rows", sp.Split, sp.Selected, sp.Rows))
	}
	fmt.Fprintf(sio.err, "lsrflow run: FlashRAG config, %s %s; dataset %s (%s)\n", verb, fr.Run.Dir, c.FlashRAG.DatasetName, strings.Join(splits, ", "))
	how := "built"
	if !fr.Index.Built {
		how = "reused"
	}
	fmt.Fprintf(sio.err, "lsrflow run: index %s (%s), retrieval %s", fr.Index.Dir, how, c.FlashRAG.RetrievalMethod)
	if fr.Index.Encoding != nil {
		fmt.Fprintf(sio.err, " by %s, encoding: %s", fr.Index.Embedder, fr.Index.Encoding)
	}
	if fr.Index.BM25Analyzer != "" {
		fmt.Fprintf(sio.err, ", passages analyzed %s, queries %s", fr.Index.BM25Analyzer, fr.Index.BM25Queries)
		if fr.Index.BM25Queries == analysis.BM25SUnstemmed {
			fmt.Fprint(sio.err, " (FlashRAG's bm25s query path: not stemmed; bm25_query_analyzer: bm25s stems them)")
		}
	}
	fmt.Fprintln(sio.err)
	return fr, nil
}
