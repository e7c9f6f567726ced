package main

import (
	"context"
	"fmt"

	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func runCmd() *command {
	return &command{name: "run", summary: "run a topology from a YAML config (embedded, or Kafka with --brokers)", run: runRunCmd}
}

func runRunCmd(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "run", "--config FILE [--brokers host:port] [--metrics-addr ADDR]",
		`Runs the topology a YAML file describes, every stage in this process: on the embedded
transport by default, or on Kafka with --brokers (or "brokers:" in the file). Relative paths
resolve against the config file's directory. See deploy/demo/demo.yaml for an annotated example.

A FlashRAG config (flashrag/config/basic_config.yaml or one derived from it, such as
RAG-Retrieval's flashrag_config.yaml) runs as it is: datasets from
{data_dir}/{dataset_name}/{split}.jsonl, retrieval_method resolved through model2path (a local
ONNX or Model2Vec directory, or bm25) with FlashRAG's conventions, index_path a FAISS file over
corpus_path, outputs in {save_dir}/{dataset_name}_{timestamp}_{save_note}/. lsrflow's own keys
(teacher, transport, sinks, ...) can be added; see docs/flashrag.md.

With --stage NAME the process runs one stage only, as a member of that stage's consumer group
on Kafka: start several processes of a stage to scale it out; they share its partitions and
take over each other's on failure. "ingest" publishes dataset_path once and exits.`)
	config := f.String("config", "", "topology YAML file")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port] (overrides the file)")
	metricsAddr := f.String("metrics-addr", "", "serve Prometheus metrics on this address (overrides the file)")
	stage := f.String("stage", "", "run only this stage as its own process in the stage's consumer group (needs Kafka): ingest, retrieve, teach, sink-scored, sink-dead-letters, evaluate, train")
	logLevel := f.String("log-level", "warn", "debug, info, warn or error")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("config"); err != nil {
		return err
	}
	if err := mustExist("config", *config); err != nil {
		return err
	}
	c, err := pipeline.LoadConfig(*config)
	if err != nil {
		return usagef("--config %v", err)
	}
	if *brokers != "" {
		c.Brokers = kafka.ParseBrokers(*brokers)
		c.Transport = "kafka"
	}
	if *metricsAddr != "" {
		c.MetricsAddr = *metricsAddr
	}
	c.ResolvePaths()
	for _, w := range c.Warnings {
		fmt.Fprintf(sio.err, "lsrflow run: warning: %s\n", w)
	}
	c.Warnings = nil
	if *stage != "" {
		if c.FlashRAG != nil {
			return usagef("--stage needs an lsrflow config: a FlashRAG config's run directory is chosen when it starts, so run it in one process")
		}
		return runOneStage(ctx, sio, c, *stage, *logLevel)
	}
	return runSynth(ctx, sio, c, *logLevel)
}
