package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func topicsCmd() *command {
	return &command{name: "topics", summary: "provision a topology's Kafka topics (topics ensure)", run: runTopicsCmd}
}

func runTopicsCmd(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(sio.out, "Usage: lsrflow topics ensure --config FILE --brokers host:port [flags]")
		fmt.Fprintln(sio.out, "\nSubcommands:\n  ensure   create the topology's topics that are missing; report the ones found")
		if len(args) == 0 {
			return usagef("missing subcommand (ensure)")
		}
		return nil
	}
	if args[0] != "ensure" {
		return usagef("unknown subcommand %q (want ensure)", args[0])
	}
	f := newFlags(sio, "topics ensure", "--config FILE --brokers host:port [--partitions N] [--replication R] [--retention 168h]",
		`Creates the topics of the topology a YAML file describes on a Kafka cluster: queries,
candidates, scored, metrics (the evaluate stage's) and dead-letters (prefixed by topic_prefix, or by the run id derived from
save_dir, exactly as 'lsrflow run --brokers' names them) and the compacted
<prefix>.retriever-updates topic (one partition, cleanup.policy=compact: only the latest update
per retriever is kept). Topics that exist are left as they are and reported. Idempotent: run it
before starting the stage processes (they would otherwise create the topics with the defaults).`)
	config := f.String("config", "", "topology YAML file")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port] (overrides the file)")
	partitions := f.Int("partitions", 0, "partitions per data topic (default: partitions in the file, else 3); the upper bound on a stage's useful replicas")
	replication := f.Int("replication", 1, "replication factor (3 on a production cluster)")
	retention := f.Duration("retention", 7*24*time.Hour, "retention of queries, candidates, scored and metrics (0: broker default)")
	deadRetention := f.Duration("dead-letters-retention", 30*24*time.Hour, "retention of the dead-letter topic (0: broker default)")
	timeout := f.Duration("timeout", 30*time.Second, "give up when the cluster does not answer within this time")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if err := f.require("config"); err != nil {
		return err
	}
	if err := mustExist("config", *config); err != nil {
		return err
	}
	if *partitions < 0 || *replication < 1 || *retention < 0 || *deadRetention < 0 {
		return usagef("--partitions, --replication and retentions must be positive")
	}
	c, err := pipeline.LoadConfig(*config)
	if err != nil {
		return usagef("--config %v", err)
	}
	if *brokers != "" {
		c.Brokers = kafka.ParseBrokers(*brokers)
	}
	if len(c.Brokers) == 0 {
		return usagef("--brokers is required (or brokers: in the file)")
	}
	c.ResolvePaths()
	parts := *partitions
	if parts == 0 {
		parts = max(c.Partitions, 3)
	}
	prefix := kafkaTopicPrefix(c)
	specs := topologyTopicSpecs(prefix, parts, *replication, *retention, *deadRetention)

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := kafka.New(kafka.Config{Brokers: c.Brokers}, kafka.WithLogger(slog.New(slog.NewTextHandler(sio.err, &slog.HandlerOptions{Level: slog.LevelError}))))
	if err != nil {
		return usagef("--brokers: %v", err)
	}
	defer tr.Close()
	client := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Timeout: *timeout}

	before, err := describeTopics(ctx, client, specNames(specs))
	if err != nil {
		return fmt.Errorf("reading cluster metadata from %s: %w", strings.Join(c.Brokers, ","), err)
	}
	if err := tr.EnsureTopics(ctx, specs...); err != nil {
		return err
	}
	after, err := awaitTopics(ctx, client, specNames(specs))
	if err != nil {
		return err
	}
	return printTopics(sio.out, specs, before, after)
}

// kafkaTopicPrefix is the prefix 'lsrflow run --brokers' uses: topic_prefix, else the run id
// of the absolute save_dir.
func kafkaTopicPrefix(c *pipeline.Config) string {
	if c.TopicPrefix != "" {
		return c.TopicPrefix
	}
	abs, _ := filepath.Abs(c.SaveDir)
	return pipeline.RunID(abs)
}

// topologyTopicSpecs lists every topic of a topology on Kafka.
func topologyTopicSpecs(prefix string, partitions, replication int, retention, deadRetention time.Duration) []streams.TopicSpec {
	t := pipeline.DefaultTopics(prefix)
	var specs []streams.TopicSpec
	for _, name := range []string{t.Queries, t.Candidates, t.Scored, t.Metrics} {
		specs = append(specs, streams.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: replication, RetentionMs: retention.Milliseconds()})
	}
	specs = append(specs,
		streams.TopicSpec{Name: t.DeadLetters, Partitions: partitions, ReplicationFactor: replication, RetentionMs: deadRetention.Milliseconds()},
		// One partition: updates are a single ordered stream; compaction keeps the latest per key.
		streams.TopicSpec{Name: t.Updates, Partitions: 1, ReplicationFactor: replication, Compacted: true},
	)
	return specs
}

func specNames(specs []streams.TopicSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// describeTopics returns the partition count of each named topic that exists. The metadata
// request never creates topics (auto-creation is not requested).
func describeTopics(ctx context.Context, client *kafkago.Client, names []string) (map[string]int, error) {
	resp, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range resp.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafkago.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		out[t.Name] = len(t.Partitions)
	}
	return out, nil
}

// awaitTopics polls metadata until every named topic is visible (creation propagates
// asynchronously on a real cluster).
func awaitTopics(ctx context.Context, client *kafkago.Client, names []string) (map[string]int, error) {
	for {
		got, err := describeTopics(ctx, client, names)
		if err == nil && len(got) == len(names) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d of %d topics visible", len(got), len(names))
			}
			return nil, fmt.Errorf("waiting for topics: %w (%v)", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printTopics(w io.Writer, specs []streams.TopicSpec, before, after map[string]int) error {
	sorted := append([]streams.TopicSpec(nil), specs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	created := 0
	for _, s := range sorted {
		state := "created"
		if _, ok := before[s.Name]; ok {
			state = "exists"
		} else {
			created++
		}
		var attrs []string
		attrs = append(attrs, "partitions="+strconv.Itoa(after[s.Name]))
		if state == "created" {
			attrs = append(attrs, "replication="+strconv.Itoa(s.ReplicationFactor))
			if s.Compacted {
				attrs = append(attrs, "cleanup.policy=compact")
			}
			if s.RetentionMs > 0 {
				attrs = append(attrs, "retention="+(time.Duration(s.RetentionMs)*time.Millisecond).String())
			}
		} else if s.Partitions > 0 && after[s.Name] != s.Partitions {
			attrs = append(attrs, fmt.Sprintf("(wanted %d; partitions of an existing topic are not changed)", s.Partitions))
		}
		fmt.Fprintf(w, "%-8s %s %s\n", state, s.Name, strings.Join(attrs, " "))
	}
	fmt.Fprintf(w, "%d created, %d already existed\n", created, len(specs)-created)
	return nil
}
