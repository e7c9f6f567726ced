package main

import (
	"context"

	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func runCmd() *command {
	return &command{name: "run", summary: "run a topology from a YAML config (embedded, or Kafka with --brokers)", run: runRunCmd}
}

func runRunCmd(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "run", "--config FILE [--brokers host:port] [--metrics-addr ADDR]",
		`Runs the topology a YAML file describes, every stage in this process: on the embedded
transport by default, or on Kafka with --brokers (or "brokers:" in the file). FlashRAG's key
names are accepted where they mean the same (dataset_path, corpus_path, index_path,
retrieval_method, retrieval_topk, save_dir). Relative paths resolve against the config file's
directory. See deploy/demo/demo.yaml for an annotated example.

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
	if *stage != "" {
		return runOneStage(ctx, sio, c, *stage, *logLevel)
	}
	return runSynth(ctx, sio, c, *logLevel)
}
