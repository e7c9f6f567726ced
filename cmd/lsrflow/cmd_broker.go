package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lsrflow/lsrflow/internal/broker"
)

func brokerCmd() *command {
	return &command{name: "broker", summary: "run a local Kafka-protocol broker (kfake) on 127.0.0.1", run: func(ctx context.Context, sio stdio, args []string) error {
		f := newFlags(sio, "broker", "[--addr 127.0.0.1:9092] [--brokers 1] [--partitions 3] [--topics a,b]",
			`Runs an in-process Kafka-protocol cluster (franz-go's kfake) for development without
Docker, until SIGINT/SIGTERM. Data is kept in memory only. Like Kafka, it removes a
consumer-group member that sends nothing for its session timeout (kfake alone would keep
one that died while joining, and its partitions would never be consumed). Prints the bootstrap address
on stdout; with --brokers N the brokers listen on consecutive ports from --addr's port
(port 0 picks free ports). Point 'lsrflow run --brokers ADDR' or kcat -b ADDR at it.`)
		addr := f.String("addr", "127.0.0.1:9092", "listen address of the first broker (127.0.0.1 only)")
		n := f.Int("brokers", 1, "number of brokers")
		parts := f.Int("partitions", 3, "partitions of seeded and auto-created topics")
		topics := f.String("topics", "", "comma-separated topics to create at start")
		if err := f.parse(args); err != nil {
			return err
		}
		port, err := broker.ParseAddr(*addr)
		if err != nil {
			return usagef("--addr: %v", err)
		}
		cfg := broker.Config{Brokers: *n, Partitions: *parts}
		if *n < 1 {
			return usagef("--brokers %d: want at least 1", *n)
		}
		if *parts < 1 {
			return usagef("--partitions %d: want at least 1", *parts)
		}
		if port != 0 {
			for i := range *n {
				cfg.Ports = append(cfg.Ports, port+i)
			}
		}
		for _, t := range strings.Split(*topics, ",") {
			if t = strings.TrimSpace(t); t != "" {
				cfg.Topics = append(cfg.Topics, t)
			}
		}
		if err := cfg.Validate(); err != nil {
			return usagef("%v", err)
		}
		log := slog.New(slog.NewTextHandler(sio.err, nil))
		cfg.Log = log // members removed for silence (a crashed process) are worth a line
		b, err := broker.Start(cfg)
		if err != nil {
			return fmt.Errorf("start broker on %s: %w", *addr, err)
		}
		defer b.Close()
		log.Info("broker listening", "bootstrap", b.Bootstrap(), "brokers", *n, "partitions", *parts, "topics", cfg.Topics)
		fmt.Fprintln(sio.out, b.Bootstrap())
		<-ctx.Done()
		log.Info("broker stopping", "cause", context.Cause(ctx))
		return nil
	}}
}
