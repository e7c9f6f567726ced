package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// kcatRecord is kcat's -J envelope for a consumed message.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int      `json:"partition"`
	Offset    int64    `json:"offset"`
	Headers   []string `json:"headers"` // name, value, name, value, ...
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (%v): run scripts/setup.sh apt", err)
	}
	return p
}

func runKcat(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func parseKcat(t *testing.T, out []byte) []kcatRecord {
	t.Helper()
	var recs []kcatRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r kcatRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat output line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestKcatInterop checks lsrflow against a Kafka client nobody here wrote: kcat produces
// FlashRAG dataset lines, lsrflow consumes and decodes them, lsrflow produces records, and kcat
// reads them back, once as a plain consumer and once as a consumer-group member.
func TestKcatInterop(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, 1)
	tr := newTransport(t, b.Addrs())
	defer tr.Close()
	ctx := t.Context()
	if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: "queries", Partitions: 3}, streams.TopicSpec{Name: "answers", Partitions: 3}); err != nil {
		t.Fatal(err)
	}

	// kcat produces the first lines of the shared QED test set, keyed by query id.
	raw, err := os.ReadFile(testenv.SharedFile(t, "data/qed/test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))[:25]
	var input bytes.Buffer
	want := map[string]schemas.Query{}
	for _, l := range lines {
		q, err := schemas.DecodeQuery(l)
		if err != nil {
			t.Fatalf("shared line %q: %v", l, err)
		}
		want[q.ID] = q
		fmt.Fprintf(&input, "%s\t%s\n", q.ID, l)
	}
	runKcat(t, input.Bytes(), "-P", "-b", b.Bootstrap(), "-t", "queries", "-K", "\t", "-H", "source=kcat")

	// lsrflow consumes them as a group member and decodes each line.
	c, err := tr.Subscribe(ctx, "queries", "lsrflow-interop")
	if err != nil {
		t.Fatal(err)
	}
	var out []streams.Message
	for range lines {
		m := mustFetch(t, c)
		q, err := schemas.DecodeQuery(m.Value)
		if err != nil {
			t.Fatalf("decode %q: %v", m.Value, err)
		}
		w, ok := want[q.ID]
		if !ok || string(m.Key) != q.ID || q.Question != w.Question || !slices.Equal(q.GoldenAnswers, w.GoldenAnswers) {
			t.Errorf("consumed key %q query %+v, want %+v", m.Key, q, w)
		}
		if m.Headers["source"] != "kcat" {
			t.Errorf("header source = %q, want kcat", m.Headers["source"])
		}
		if err := c.Commit(ctx, m); err != nil {
			t.Fatal(err)
		}
		rec, err := json.Marshal(map[string]any{"id": q.ID, "question": q.Question, "n_answers": len(q.GoldenAnswers)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, streams.Message{Key: []byte(q.ID), Value: rec, Headers: map[string]string{"schema": "interop/v1", "stage": "test"}})
		delete(want, q.ID)
	}
	if len(want) != 0 {
		t.Fatalf("%d queries never consumed", len(want))
	}
	if err := tr.Publish(ctx, "answers", out...); err != nil {
		t.Fatal(err)
	}
	expect := map[string]string{}
	for _, m := range out {
		expect[string(m.Key)] = string(m.Value)
	}

	check := func(name string, recs []kcatRecord) {
		t.Helper()
		if len(recs) != len(expect) {
			t.Errorf("%s: kcat read %d records, want %d", name, len(recs), len(expect))
		}
		got := map[string]bool{}
		for _, r := range recs {
			if r.Key == nil || r.Payload == nil {
				t.Errorf("%s: record without key or payload: %+v", name, r)
				continue
			}
			if expect[*r.Key] != *r.Payload {
				t.Errorf("%s: key %q payload %q, want %q", name, *r.Key, *r.Payload, expect[*r.Key])
			}
			if want := streams.PartitionFor([]byte(*r.Key), 3); r.Partition != want {
				t.Errorf("%s: key %q on partition %d, want %d", name, *r.Key, r.Partition, want)
			}
			if !slices.Equal(r.Headers, []string{"schema", "interop/v1", "stage", "test"}) {
				t.Errorf("%s: headers %q", name, r.Headers)
			}
			if got[*r.Key] {
				t.Errorf("%s: key %q read twice", name, *r.Key)
			}
			got[*r.Key] = true
		}
	}
	check("kcat -C", parseKcat(t, runKcat(t, nil, "-C", "-b", b.Bootstrap(), "-t", "answers", "-o", "beginning", "-e", "-J")))
	// As a group member kcat subscribes, gets all three partitions and exits at their end.
	check("kcat -G", parseKcat(t, runKcat(t, nil, "-b", b.Bootstrap(), "-G", "kcat-readers", "-X", "auto.offset.reset=earliest", "-e", "-J", "answers")))
}
