package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/ingest"
	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func serveCmd() *command {
	return &command{name: "serve", summary: "HTTP ingest of live query logs onto a topology's queries topic", run: runServeCmd}
}

func runServeCmd(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "serve", "--config FILE --brokers host:port [--addr 127.0.0.1:8080] [--token T] [--max-body 1MiB] [--dedup-window 10m] [--max-inflight N]",
		`Serves HTTP ingest of live query logs for the topology a YAML file describes, on Kafka:
  POST /v1/queries   body: query-log lines (JSON objects or plain-text questions), one per line;
                     valid lines go to the queries topic keyed by query id, bad lines to the
                     dead-letter topic; answer {"accepted":N,"duplicates":D,"dead_lettered":B}.
                     413 over --max-body, 401 without the bearer token, 429 + Retry-After when
                     --max-inflight requests are publishing; a question repeated within
                     --dedup-window (normalized text) is counted as a duplicate, not published.
  GET /healthz       200 while the process runs
  GET /readyz        200 when the Kafka cluster answers (503 during shutdown)
  GET /metrics       Prometheus metrics (lsrflow_ingest_lines_total, lsrflow_ingest_requests_total)
The token may also come from the environment variable LSRFLOW_INGEST_TOKEN. SIGTERM stops
accepting, lets in-flight requests finish their publishes, and exits.`)
	config := f.String("config", "", "topology YAML file (topic names; brokers)")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port] (overrides the file)")
	addr := f.String("addr", "127.0.0.1:8080", "listen address (use 0.0.0.0:8080 in a container)")
	token := f.String("token", "", "bearer token required on POST (default $LSRFLOW_INGEST_TOKEN; empty: no auth)")
	maxBody := f.String("max-body", "1MiB", "request body limit (bytes, or with KiB/MiB/GiB/KB/MB suffix)")
	dedupWindow := f.Duration("dedup-window", 10*time.Minute, "de-duplicate repeated questions within this window (0: off)")
	dedupCap := f.Int("dedup-capacity", 100_000, "questions remembered for de-duplication (bounds memory)")
	maxInflight := f.Int("max-inflight", 64, "requests publishing at once; more are answered 429")
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
	body, err := parseByteSize(*maxBody)
	if err != nil || body <= 0 {
		return usagef("--max-body %q: want a positive size such as 1MiB or 65536", *maxBody)
	}
	if *maxInflight < 1 || *dedupCap < 1 || *dedupWindow < 0 {
		return usagef("--max-inflight and --dedup-capacity must be positive, --dedup-window not negative")
	}
	if *token == "" {
		*token = os.Getenv("LSRFLOW_INGEST_TOKEN")
	}
	log, err := newLogger(sio.err, *logLevel)
	if err != nil {
		return err
	}
	c, err := pipeline.LoadConfig(*config)
	if err != nil {
		return usagef("--config %v", err)
	}
	if *brokers != "" {
		c.Brokers = kafka.ParseBrokers(*brokers)
	}
	if len(c.Brokers) == 0 {
		return usagef("--brokers is required (or brokers: in the file): serve publishes to Kafka for the stage processes")
	}
	c.ResolvePaths()
	topics := pipeline.DefaultTopics(kafkaTopicPrefix(c))

	tr, err := kafka.New(kafka.Config{Brokers: c.Brokers}, kafka.WithLogger(log))
	if err != nil {
		return usagef("--brokers: %v", err)
	}
	defer tr.Close()
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = tr.EnsureTopics(ectx, topicSpecs(topics, c.Partitions)...)
	cancel()
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	window := *dedupWindow
	if window == 0 {
		window = -1 // ingest.Options: negative disables
	}
	h, err := ingest.New(ingest.Options{
		Publisher: tr, QueriesTopic: topics.Queries, DeadLettersTopic: topics.DeadLetters,
		Token: *token, MaxBody: body, MaxLineBytes: c.MaxLineBytes,
		DedupWindow: window, DedupCapacity: *dedupCap, MaxInflight: *maxInflight,
		Ready:      func(ctx context.Context) error { return probeKafka(ctx, c.Brokers, topics.Queries) },
		Registerer: reg, Log: log,
	})
	if err != nil {
		return err
	}
	h.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usagef("--addr %s: %v", *addr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "queries", topics.Queries, "dead_letters", topics.DeadLetters)
	fmt.Fprintf(sio.out, "lsrflow serve: http://%s/v1/queries -> %s (dead letters: %s)\n", ln.Addr(), topics.Queries, topics.DeadLetters)
	return ingest.Serve(ctx, ln, h, 15*time.Second)
}

// probeKafka reports whether some broker answers a metadata request for topic on a fresh
// connection (a pooled client could answer from its metadata cache).
func probeKafka(ctx context.Context, brokers []string, topic string) error {
	var errs []error
	for _, b := range brokers {
		conn, err := kafkago.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.ReadPartitions(topic)
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return errors.Join(errs...)
}

// parseByteSize parses "1048576", "1MiB", "512KiB", "2MB", "1GiB".
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, errors.New("size out of range")
	}
	return n * mult, nil
}
