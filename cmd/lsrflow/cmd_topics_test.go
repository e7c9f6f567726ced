package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/internal/broker"
	"github.com/lsrflow/lsrflow/pipeline"
)

// kafkaTestConfig writes a minimal topology file with a fixed topic prefix.
func kafkaTestConfig(t *testing.T, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "topo.yaml")
	body := "dataset_path: queries.jsonl\ncorpus_path: corpus.jsonl\nsave_dir: out\npartitions: 3\n"
	if prefix != "" {
		body += "topic_prefix: " + prefix + "\n"
	}
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startTestBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestTopicsEnsure(t *testing.T) {
	b := startTestBroker(t)
	cfg := kafkaTestConfig(t, "tt")
	code, out, errOut := cli(t, "topics", "ensure", "--config", cfg, "--brokers", b.Bootstrap(), "--partitions", "4", "--retention", "48h")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"created  tt.queries partitions=4 replication=1 retention=48h0m0s",
		"created  tt.candidates partitions=4",
		"created  tt.scored partitions=4",
		"created  tt.metrics partitions=4",
		"created  tt.dead-letters partitions=4 replication=1 retention=720h0m0s",
		"created  tt.retriever-updates partitions=1 replication=1 cleanup.policy=compact",
		"6 created, 0 already existed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Idempotent: a second run finds everything and changes nothing.
	code, out, errOut = cli(t, "topics", "ensure", "--config", cfg, "--brokers", b.Bootstrap(), "--partitions", "8")
	if code != 0 {
		t.Fatalf("second run: exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "0 created, 6 already existed") || !strings.Contains(out, "exists   tt.queries partitions=4 (wanted 8") {
		t.Errorf("second run output:\n%s", out)
	}

	// The broker holds the compaction and retention settings.
	client := &kafkago.Client{Addr: kafkago.TCP(b.Bootstrap()), Timeout: 10 * time.Second}
	resp, err := client.DescribeConfigs(t.Context(), &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: "tt.retriever-updates", ConfigNames: []string{"cleanup.policy"}},
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: "tt.queries", ConfigNames: []string{"retention.ms"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			got[r.ResourceName+" "+e.ConfigName] = e.ConfigValue
		}
	}
	if got["tt.retriever-updates cleanup.policy"] != "compact" || got["tt.queries retention.ms"] != "172800000" {
		t.Errorf("topic configs on the broker: %v", got)
	}

	// An independent client (kcat) sees the topics with their partition counts.
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not installed: run scripts/setup.sh apt")
	}
	meta, err := exec.CommandContext(t.Context(), "kcat", "-b", b.Bootstrap(), "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, meta)
	}
	for _, want := range []string{`topic "tt.queries" with 4 partitions`, `topic "tt.retriever-updates" with 1 partitions`} {
		if !strings.Contains(string(meta), want) {
			t.Errorf("kcat -L lacks %q:\n%s", want, meta)
		}
	}
}

func TestTopicsEnsureRunIDPrefixMatchesRun(t *testing.T) {
	b := startTestBroker(t)
	cfg := kafkaTestConfig(t, "")
	code, out, errOut := cli(t, "topics", "ensure", "--config", cfg, "--brokers", b.Bootstrap())
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// Without topic_prefix the names carry the run id of the absolute save_dir, as 'run' uses.
	abs, _ := filepath.Abs(filepath.Join(filepath.Dir(cfg), "out"))
	id := pipeline.RunID(abs)
	if !strings.Contains(out, "created  "+id+".queries partitions=3") || !strings.Contains(out, "created  "+id+".retriever-updates partitions=1") {
		t.Errorf("output:\n%s", out)
	}
}

func TestTopicsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"topics"},
		{"topics", "create"},
		{"topics", "ensure"},
		{"topics", "ensure", "--config", "/nonexistent.yaml", "--brokers", "127.0.0.1:1"},
		{"topics", "ensure", "--config", kafkaTestConfig(t, "x")},
		{"topics", "ensure", "--config", kafkaTestConfig(t, "x"), "--brokers", "127.0.0.1:1", "--replication", "0"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
