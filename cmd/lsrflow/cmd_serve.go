package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
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

// tokenEnv is the environment variable holding the bearer token.
const tokenEnv = "LSRFLOW_INGEST_TOKEN"

// baselineMemory is what serve takes besides its limits: the Go runtime, the Kafka client and
// the metrics (measured ~20-40 MB idle).
const baselineMemory = 64 << 20

// byteSize is a flag holding a size such as 1MiB or 65536.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive size such as 1MiB or 65536")
	}
	*b = byteSize(n)
	return nil
}

func runServeCmd(ctx context.Context, sio stdio, args []string) error {
	lim, so := ingest.DefaultLimits(), ingest.DefaultServerOptions()
	f := newFlags(sio, "serve", "--config FILE --brokers host:port [--addr 127.0.0.1:8080] [--token-file FILE] [limits]",
		`Serves HTTP ingest of live query logs for the topology a YAML file describes, on Kafka.
The file needs only topic_prefix (or save_dir, whose run id names the topics) and, without
--brokers, brokers; partitions and max_line_bytes are used when set.
  POST /v1/queries   body: query-log lines (JSON objects or plain-text questions), one per
                     line (LF, CRLF or CR; gzip with Content-Encoding: gzip). 200: every line
                     is accepted, a duplicate, or dead-lettered, and acknowledged by Kafka;
                     the answer counts them and lists the line numbers of duplicates and dead
                     letters. 503 + Retry-After: not every line is confirmed yet; retry the
                     same body (published lines come back as duplicates, none twice).
                     413 over a limit, 415 bad Content-Encoding, 401 without the token, 429 +
                     Retry-After when --inflight-memory is taken: nothing was published.
  GET /healthz       200 while the process runs
  GET /readyz        200 when Kafka answers; 503 from SIGTERM on
  GET /metrics       Prometheus metrics (lsrflow_ingest_*)
The bearer token comes from $`+tokenEnv+` or --token-file, never the command line. A
listen address beyond loopback needs a token (or --insecure). Memory is bounded by the limits:
about --inflight-memory + --dedup-memory + --max-conns x (16 KiB headers + 36 KiB) + 64 MiB;
serve sets the Go memory limit to that unless GOMEMLIMIT is set. On SIGTERM /readyz turns 503
for --drain-delay, then the listener closes and requests and publishes get --grace to finish.
See docs/ingest.md.`)
	config := f.String("config", "", "topology YAML file (topic_prefix or save_dir; brokers)")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port] (overrides the file)")
	addr := f.String("addr", "127.0.0.1:8080", "listen address (0.0.0.0:8080 in a container; beyond loopback a token is required)")
	tokenFile := f.String("token-file", "", "file holding the bearer token required on POST (default: $"+tokenEnv+"; neither: no auth)")
	token := f.String("token", "", "not accepted: a token on the command line is visible to every user in /proc; use $"+tokenEnv+" or --token-file")
	insecure := f.Bool("insecure", false, "allow listening beyond loopback without a token")
	f.Var((*byteSize)(&lim.MaxBody), "max-body", "request body limit after gzip decoding (bytes, or with KiB/MiB/GiB/KB/MB suffix)")
	f.IntVar(&lim.MaxLines, "max-lines", lim.MaxLines, "non-blank lines per request (more: 413)")
	f.Var((*byteSize)(&lim.RequestBudget), "request-budget", "bytes one request may publish, dead letters included (more: 413)")
	maxMessage := byteSize(lim.MaxMessageBytes)
	f.Var(&maxMessage, "max-message", "largest message published (key + value); keep it below the broker's message.max.bytes. A larger line is dead-lettered")
	f.Var((*byteSize)(&lim.InflightMemory), "inflight-memory", "memory all requests and their publishes may hold together (more: 429)")
	f.DurationVar(&lim.DedupWindow, "dedup-window", lim.DedupWindow, "remember published lines this long: repeats and client retries are not published again (0: off, retries may duplicate)")
	f.Var((*byteSize)(&lim.DedupMemory), "dedup-memory", "memory of the remembered lines (about 112 bytes each)")
	f.DurationVar(&lim.RequestTimeout, "request-timeout", lim.RequestTimeout, "how long a request waits for its publishes before answering 503 (they go on)")
	f.DurationVar(&lim.PublishTimeout, "publish-timeout", lim.PublishTimeout, "how long a publish may keep trying, detached from the request")
	f.IntVar(&so.MaxConns, "max-conns", so.MaxConns, "open connections; at the cap the longest idle or slowest one is closed for a new one")
	f.DurationVar(&so.ReadHeaderTimeout, "header-timeout", so.ReadHeaderTimeout, "time to send a request's headers (also the wait for a new connection's first request)")
	f.DurationVar(&so.ReadTimeout, "read-timeout", so.ReadTimeout, "time to send a whole request, body included")
	f.DurationVar(&so.IdleTimeout, "idle-timeout", so.IdleTimeout, "keep-alive connections idle this long are closed")
	f.DurationVar(&so.DrainDelay, "drain-delay", so.DrainDelay, "on SIGTERM, answer /readyz 503 this long before closing the listener")
	f.DurationVar(&so.Grace, "grace", so.Grace, "on SIGTERM, time for running requests and publishes to finish after the listener closed")
	logLevel := f.String("log-level", "warn", "debug, info, warn or error")
	if err := f.parse(args); err != nil {
		return err
	}
	if *token != "" {
		return usagef("--token is not accepted: a token on the command line is visible to every user in /proc; set $%s or use --token-file", tokenEnv)
	}
	if err := f.require("config"); err != nil {
		return err
	}
	if err := mustExist("config", *config); err != nil {
		return err
	}
	lim.MaxMessageBytes = int(maxMessage)
	if lim.DedupWindow == 0 {
		lim.DedupWindow = -1 // ingest.Limits: negative disables
	}
	if lim.MaxLines < 1 || so.MaxConns < 1 || lim.DedupWindow < -1 {
		return usagef("--max-lines and --max-conns must be positive, --dedup-window not negative")
	}
	for _, d := range []time.Duration{lim.RequestTimeout, lim.PublishTimeout, so.ReadHeaderTimeout, so.ReadTimeout, so.IdleTimeout, so.DrainDelay, so.Grace} {
		if d <= 0 {
			return usagef("timeouts and delays must be positive durations such as 30s")
		}
	}
	auth, err := serveToken(*tokenFile)
	if err != nil {
		return err
	}
	if err := checkListenAddr(*addr, auth != "", *insecure); err != nil {
		return err
	}
	log, err := newLogger(sio.err, *logLevel)
	if err != nil {
		return err
	}
	c, err := pipeline.ParseConfig(*config)
	if err != nil {
		return usagef("--config %v", err)
	}
	if err := serveConfig(c, *brokers); err != nil {
		return err
	}
	if c.MaxLineBytes > 0 {
		lim.MaxLineBytes = c.MaxLineBytes
	}
	if err := lim.Validate(); err != nil {
		return usagef("%v", err)
	}
	topics := pipeline.DefaultTopics(kafkaTopicPrefix(c))

	memory := lim.Memory() + so.Memory() + baselineMemory
	if os.Getenv("GOMEMLIMIT") == "" {
		// The limits bound live memory; the Go memory limit makes the collector keep the heap
		// near them instead of letting it reach twice the live size.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(memory))
	}

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
	h, err := ingest.New(ingest.Options{
		Publisher: tr, QueriesTopic: topics.Queries, DeadLettersTopic: topics.DeadLetters,
		Token: auth, Limits: lim,
		Ready:      func(ctx context.Context) error { return probeKafka(ctx, c.Brokers, topics.Queries) },
		Registerer: reg, Log: log,
	})
	if err != nil {
		return err
	}
	h.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	so.Registerer, so.Log = reg, log
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usagef("--addr %s: %v", *addr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "queries", topics.Queries, "dead_letters", topics.DeadLetters, "memory_bound_mib", memory>>20)
	fmt.Fprintf(sio.out, "lsrflow serve: http://%s/v1/queries -> %s (dead letters: %s; memory bound %d MiB)\n", ln.Addr(), topics.Queries, topics.DeadLetters, memory>>20)
	return ingest.Serve(ctx, ln, h, so)
}

// serveToken reads the bearer token from file, else from $LSRFLOW_INGEST_TOKEN ("" : none).
func serveToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(tokenEnv)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usagef("--token-file %s: %v", file, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", usagef("--token-file %s: want one token (no white space inside) in the file", file)
	}
	return tok, nil
}

// checkListenAddr refuses an address reachable beyond loopback when no token guards it.
func checkListenAddr(addr string, haveToken, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--addr %s: want host:port", addr)
	}
	if haveToken || insecure {
		return nil
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	if !loopback {
		return usagef("--addr %s listens beyond loopback without a token: set $%s or --token-file (or pass --insecure to accept unauthenticated posts)", addr, tokenEnv)
	}
	return nil
}

// serveConfig checks the keys serve uses and applies --brokers.
func serveConfig(c *pipeline.Config, brokers string) error {
	switch c.Transport {
	case "", "embedded", "kafka":
	default:
		return usagef("--config: transport %q: want embedded or kafka", c.Transport)
	}
	if brokers != "" {
		c.Brokers = kafka.ParseBrokers(brokers)
	}
	if len(c.Brokers) == 0 {
		return usagef("--brokers is required (or brokers: in the file): serve publishes to Kafka for the stage processes")
	}
	if c.SaveDir == "" {
		c.SaveDir = c.OutputDir
	}
	if c.TopicPrefix == "" && c.SaveDir == "" {
		return usagef("--config: topic_prefix (or save_dir, whose run id names the topics) is required")
	}
	c.SaveDir = c.Resolve(c.SaveDir)
	if c.Partitions < 0 || c.MaxLineBytes < 0 {
		return usagef("--config: partitions and max_line_bytes must not be negative")
	}
	return nil
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
