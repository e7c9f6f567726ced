package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func synthCmd() *command {
	return &command{name: "synth", summary: "retrieve -> teach -> sink: synthesize scored training records", run: runSynthCmd}
}

func runSynthCmd(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "synth", "--index DIR --queries Q.jsonl --teacher answer-match --topk K --out DIR [flags]",
		`Runs the retrieve -> teach -> sink topology over a query file and writes DIR/scored.jsonl
(seed format {"query","pos","scores"} plus id and audit fields), DIR/scored.parquet,
DIR/dead-letters.jsonl (bad lines and records a stage could not process, with the reason and the
original bytes), DIR/metrics.jsonl and DIR/summary.json. Every valid query yields exactly one
scored record with k passages. Re-running the same command after a crash or Ctrl-C resumes:
nothing is lost and nothing is written twice.

All stages run in this process on the embedded transport, or on Kafka with --brokers.`)
	index := f.String("index", "", "index directory (lsrflow index)")
	corpus := f.String("corpus", "", "corpus jsonl: build the index at --index from it when missing")
	queries := f.String("queries", "", "query file: FlashRAG dataset jsonl, or a raw query log")
	format := f.String("queries-format", "auto", "auto, dataset or log (auto: .jsonl/.json are datasets)")
	method := f.String("method", "bm25", "retrieval method: bm25, dense or hybrid (hybrid gives the teacher candidates from both: the better training data for an adapter)")
	fusion := f.String("fusion", "rrf", "hybrid fusion: rrf, sum or linear")
	adapterPath := f.String("adapter", "", "query adapter checkpoint (lsrflow train) applied to the dense side of dense or hybrid retrieval")
	topk := f.Int("topk", 20, "passages per query")
	teacher := f.String("teacher", "answer-match", "teacher: answer-match, lsr (REPLUG LSR), upr (answerless), gen-lsr (answerless), seed (the earlier experiment's labels)")
	temperature := f.Float64("temperature", 0, "teacher softmax temperature beta (0: the teacher's default)")
	lmSpec := f.String("lm", "", "LM for lsr/upr/gen-lsr/seed: http://host:port/v1 (vLLM, TGI, SGLang) or gguf:PATH (in-process)")
	model := f.String("model", "", "model name sent to an HTTP LM server")
	backend := f.String("backend", "", "HTTP LM server kind: vllm (default), vllm-prompt-logprobs, tgi, sglang")
	var teacherOpts kvFlag
	f.Var(&teacherOpts, "teacher-opt", "LM teacher option key=value (repeatable): score_transform, combine, length_normalize, prompt_file, chat, concurrency, timeout, retries, cache, context_size, threads, tokenizer (the model's tokenizer.json; default: the server's /tokenize)")
	out := f.String("out", "", "output directory")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port]; empty: embedded transport")
	partitions := f.Int("partitions", 3, "partitions per topic")
	retrieveConc := f.Int("retrieve-concurrency", 0, "queries retrieved at once (0: 2, or 64 for dense and hybrid, whose queries in flight are searched in batches)")
	teachConc := f.Int("teach-concurrency", 2, "candidate sets scored at once")
	sinksFlag := f.String("sinks", "parquet", "extra sinks beside scored.jsonl: parquet, arrow (Arrow IPC), both comma-separated, or none")
	maxLine := f.Int("max-line-bytes", 1<<20, "longest accepted query line; longer ones are dead-lettered")
	metricsAddr := f.String("metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464)")
	sync := f.Bool("sync", false, "fsync sinks before committing (survives machine crashes, slower)")
	exactlyOnce := f.Bool("exactly-once", false, "with --brokers: retrieve, teach and evaluate commit outputs and offsets in Kafka transactions (no duplicate in the topics' committed view)")
	logLevel := f.String("log-level", "warn", "debug, info, warn or error")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("index", "queries", "out"); err != nil {
		return err
	}
	if *topk <= 0 {
		return usagef("--topk must be positive")
	}
	if *adapterPath != "" {
		if err := mustExist("adapter", *adapterPath); err != nil {
			return err
		}
	}
	if *partitions <= 0 || *retrieveConc < 0 || *teachConc <= 0 || *maxLine <= 0 {
		return usagef("--partitions, --teach-concurrency and --max-line-bytes must be positive, --retrieve-concurrency not negative")
	}
	c := &pipeline.Config{
		DatasetPath: *queries, QueriesFormat: *format, CorpusPath: *corpus, IndexPath: *index,
		RetrievalMethod: *method, RetrievalTopK: *topk, SaveDir: *out, Fusion: *fusion, Adapter: *adapterPath,
		Teacher: pipeline.TeacherConfig{Method: *teacher, Temperature: *temperature, LM: *lmSpec,
			Model: *model, Backend: *backend, Options: teacherOpts.m},
		Brokers:    kafka.ParseBrokers(*brokers),
		Partitions: *partitions,
		Stages: map[string]pipeline.StageConfig{
			pipeline.StageRetrieve: {Concurrency: *retrieveConc},
			pipeline.StageTeach:    {Concurrency: *teachConc},
		},
		MaxLineBytes: *maxLine, MetricsAddr: *metricsAddr, Sync: *sync, ExactlyOnce: *exactlyOnce,
	}
	if s := strings.TrimSpace(*sinksFlag); s != "" && s != "none" {
		c.Sinks = strings.Split(s, ",")
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	return runSynth(ctx, sio, c, *logLevel)
}

// kvFlag collects repeated key=value flags.
type kvFlag struct{ m map[string]string }

func (k *kvFlag) String() string { return "" }

func (k *kvFlag) Set(v string) error {
	key, val, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[key] = val
	return nil
}
