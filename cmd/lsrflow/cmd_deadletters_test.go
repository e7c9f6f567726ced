package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/broker"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func deadLetterFile(t *testing.T, dir string) string {
	t.Helper()
	dls := []schemas.DeadLetter{
		{Stage: "ingest", Reason: schemas.ReasonBrokenJSON, Key: "", Payload: []byte(`{"question": "broken`)},
		{Stage: "ingest", Reason: schemas.ReasonMissingQuestion, Key: "q1", Payload: []byte("{\n  \"id\": \"q1\",\n  \"question\": \"fixed later?\"\n}")},
		{Stage: "ingest", Reason: schemas.ReasonMissingQuestion, Key: "q1", Payload: []byte("{\n  \"id\": \"q1\",\n  \"question\": \"fixed later?\"\n}")},
		{Stage: "teach", Reason: "lm_timeout", Key: "q2", Payload: []byte(`{"id":"q2","question":"who?"}`)},
		{Stage: "teach", Reason: "lm_timeout", Key: "q3", Payload: []byte("plain\nmulti-line")},
	}
	var sb strings.Builder
	for _, d := range dls {
		b, _ := json.Marshal(d)
		sb.Write(b)
		sb.WriteString("\n")
	}
	sb.WriteString("not a dead letter\n")
	p := filepath.Join(dir, "dead-letters.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeadlettersStats(t *testing.T) {
	in := deadLetterFile(t, t.TempDir())
	code, out, stderr := runMyCLI(t, "deadletters", "stats", "--in", in, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `{"total":5,"unreadable_lines":1,"counts":[{"stage":"ingest","reason":"broken_json","count":1},{"stage":"ingest","reason":"missing_question","count":2},{"stage":"teach","reason":"lm_timeout","count":2}]}`
	if strings.TrimSpace(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if code, out, _ := runMyCLI(t, "deadletters", "stats", "--in", in); code != 0 || !strings.Contains(out, "missing_question  2") {
		t.Fatalf("table output: %q", out)
	}
}

func TestDeadlettersReplay(t *testing.T) {
	dir := t.TempDir()
	in := deadLetterFile(t, dir)
	out := filepath.Join(dir, "replay.jsonl")
	code, _, stderr := runMyCLI(t, "deadletters", "replay", "--in", in, "--out", out, "--stage", "ingest", "--reason", "missing_question")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	if string(got) != `{"id":"q1","question":"fixed later?"}`+"\n" {
		t.Fatalf("replayed %q", got)
	}
	// the replayed line is what a query reader reads
	q, err := schemas.DecodeQuery([]byte(strings.TrimSpace(string(got))))
	if err != nil || q.ID != "q1" {
		t.Fatalf("replayed line does not decode: %+v %v", q, err)
	}
	code, _, stderr = runMyCLI(t, "deadletters", "replay", "--in", in, "--out", out)
	if code != 0 || !strings.Contains(stderr, "replayed 3 of 5") || !strings.Contains(stderr, "1 duplicate") || !strings.Contains(stderr, "1 not replayable") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ = os.ReadFile(out)
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); len(lines) != 3 || lines[0] != `{"question": "broken` {
		t.Fatalf("replayed lines %q", lines)
	}
	for _, args := range [][]string{
		{"deadletters"}, {"deadletters", "bogus"}, {"deadletters", "replay", "--in", in},
		{"deadletters", "replay", "--in", in, "--brokers", "127.0.0.1:1"},
		{"deadletters", "stats", "--in", filepath.Join(dir, "nope")},
	} {
		if code, _, _ := runMyCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestDeadlettersReplayToKafka(t *testing.T) {
	b, err := broker.Start(broker.Config{Topics: []string{"queries"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := deadLetterFile(t, t.TempDir())
	code, _, stderr := runMyCLI(t, "deadletters", "replay", "--in", in, "--brokers", b.Bootstrap(), "--topic", "queries", "--stage", "teach")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tr, err := kafka.New(kafka.Config{Brokers: b.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := tr.Subscribe(t.Context(), "queries", "check")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != "q2" || string(m.Value) != `{"id":"q2","question":"who?"}` || m.Partition != streams.PartitionFor(m.Key, 3) {
		t.Fatalf("message %q=%q on partition %d", m.Key, m.Value, m.Partition)
	}
	if lag := c.(streams.LagReporter).Lag(); lag != 0 {
		t.Fatalf("%d extra messages (the multi-line payload must not be replayed)", lag)
	}
}

// TestDeadlettersReplayCandidates: a teach-stage dead letter carries a candidate set; replayed
// to a file it becomes the query line again (or stays raw with --as raw).
func TestDeadlettersReplayCandidates(t *testing.T) {
	dir := t.TempDir()
	cand := `{"schema_version":1,"query":{"schema_version":1,"id":"dev_127","question":"how many episodes","golden_answers":["("]},"docs":[{"id":"70","contents":"T\nx","score":1.5}],"retriever":{"method":"bm25"}}`
	b, _ := json.Marshal(schemas.DeadLetter{Stage: "teach", Reason: "no_gold_answers", Key: "dev_127", Payload: []byte(cand)})
	in := filepath.Join(dir, "dl.jsonl")
	if err := os.WriteFile(in, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "q.jsonl")
	if code, _, stderr := runMyCLI(t, "deadletters", "replay", "--in", in, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	q, err := schemas.DecodeQuery([]byte(strings.TrimSpace(string(got))))
	if err != nil || q.ID != "dev_127" || q.Question != "how many episodes" || len(q.GoldenAnswers) != 1 {
		t.Fatalf("replayed %q -> %+v %v", got, q, err)
	}
	if code, _, _ := runMyCLI(t, "deadletters", "replay", "--in", in, "--out", out, "--as", "raw"); code != 0 {
		t.Fatal("raw replay failed")
	}
	if got, _ := os.ReadFile(out); strings.TrimSpace(string(got)) != cand {
		t.Fatalf("raw replay wrote %q", got)
	}
}

// A bounded dead letter (serve's form for over-long lines) holds only the line's first bytes:
// replaying it would publish a different line, so it is skipped and counted.
func TestDeadlettersReplaySkipsTruncated(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	for _, d := range []schemas.DeadLetter{
		{Stage: "ingest", Reason: schemas.ReasonTooLong, Payload: []byte("first bytes of a long line"), PayloadSize: 2 << 20, PayloadSHA256: strings.Repeat("ab", 32)},
		{Stage: "ingest", Reason: schemas.ReasonBrokenJSON, Payload: []byte(`{"question": "whole`)},
	} {
		b, _ := json.Marshal(d)
		sb.Write(b)
		sb.WriteString("\n")
	}
	in, out := filepath.Join(dir, "dl.jsonl"), filepath.Join(dir, "replay.jsonl")
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMyCLI(t, "deadletters", "replay", "--in", in, "--out", out)
	if code != 0 || !strings.Contains(stderr, "replayed 1 of 2") || !strings.Contains(stderr, "1 not replayable") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != `{"question": "whole`+"\n" {
		t.Fatalf("replayed %q", got)
	}
}
