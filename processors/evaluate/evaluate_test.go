package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

func candidates(id, version string, answer string, gold []string, contents ...string) []byte {
	c := schemas.Candidates{SchemaVersion: 1, Retriever: schemas.RetrieverInfo{Method: "bm25", Version: version},
		Query: schemas.Query{SchemaVersion: 1, ID: id, Question: "question " + id, GoldenAnswers: []string{answer}, GoldDocIDs: gold}}
	for i, t := range contents {
		c.Docs = append(c.Docs, schemas.Passage{ID: fmt.Sprintf("d%d", i), Contents: t, Score: float64(10 - i)})
	}
	b, _ := json.Marshal(c)
	return b
}

func TestProcessAggregatesPerVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(Config{Ks: []int{1, 2}, Topic: "metrics", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{
		candidates("a", "v1", "Paris", []string{"d1"}, "Rome", "The city of PARIS."), // recall@1 0, @2 1, rr 0.5; gold@1 0 @2 1
		candidates("b", "v1", "Berlin", nil, "Berlin wall", "x"),                     // 1, 1, rr 1
		candidates("c", "v2", "Oslo", nil, "nothing", "here"),                        // 0, 0, 0
		candidates("a", "v1", "Paris", []string{"d1"}, "Rome", "The city of PARIS."), // redelivery
	}
	var recs []Record
	for _, in := range inputs {
		outs, err := p.Process(t.Context(), streams.Message{Value: in})
		if err != nil || len(outs) != 1 || outs[0].Topic != "metrics" {
			t.Fatalf("Process: %v %v", outs, err)
		}
		var r Record
		if err := json.Unmarshal(outs[0].Value, &r); err != nil {
			t.Fatal(err)
		}
		if string(outs[0].Key) != r.RetrieverVersion {
			t.Errorf("key %q, version %q", outs[0].Key, r.RetrieverVersion)
		}
		recs = append(recs, r)
	}
	if recs[0].Query["recall@1"] != 0 || recs[0].Query["recall@2"] != 1 || recs[0].Query["rr"] != 0.5 || recs[0].Query["gold_recall@2"] != 1 {
		t.Errorf("first record %+v", recs[0])
	}
	if !recs[3].Duplicate || recs[3].N != 2 {
		t.Errorf("redelivery counted: %+v", recs[3])
	}
	run, n := p.Snapshot("v1")
	if n != 2 || run["recall@1"] != 0.5 || run["recall@2"] != 1 || run["mrr"] != 0.75 || run["gold_recall@1"] != 0 || run["gold_mrr"] != 0.5 {
		t.Errorf("v1 snapshot %v (n %d)", run, n)
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{{[]string{"v1", "1"}, 0.5}, {[]string{"v1", "2"}, 1}, {[]string{"v2", "2"}, 0}} {
		if got := testutil.ToFloat64(p.recall.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("lsrflow_eval_recall%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := testutil.ToFloat64(p.queries.WithLabelValues("v1")); got != 2 {
		t.Errorf("queries_total v1 = %v", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP lsrflow_eval_mrr Mean reciprocal rank of the first answer-bearing passage.
# TYPE lsrflow_eval_mrr gauge
lsrflow_eval_mrr{retriever_version="v1"} 0.75
lsrflow_eval_mrr{retriever_version="v2"} 0
`), "lsrflow_eval_mrr"); err != nil {
		t.Error(err)
	}
}

func TestBadInputIsPermanent(t *testing.T) {
	p, _ := New(Config{})
	for _, in := range []string{"{", "[]", `{"query":{"id":"x"},"docs":[]}`, "\xff"} {
		_, err := p.Process(t.Context(), streams.Message{Value: []byte(in)})
		if err == nil || !streams.IsPermanent(err) {
			t.Errorf("%q: err %v, want a permanent error", in, err)
		}
	}
	if _, err := New(Config{Ks: []int{0}}); err == nil {
		t.Error("k=0 accepted")
	}
}

// TestInRunner runs the processor as a stage on the in-memory transport.
func TestInRunner(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(2))
	defer tr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p, _ := New(Config{Ks: []int{1}, Registry: prometheus.NewRegistry()})
	var msgs []streams.Message
	for i := range 20 {
		msgs = append(msgs, streams.Message{Key: []byte(fmt.Sprint(i)), Value: candidates(fmt.Sprint(i), "v7", "yes", nil, []string{"yes", "no"}[i%2])})
	}
	msgs = append(msgs, streams.Message{Key: []byte("bad"), Value: []byte("{broken")})
	if err := tr.Publish(ctx, "candidates", msgs...); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- streams.NewRunner(tr, nil, nil).Run(runCtx, streams.Stage{Name: "evaluate", Input: "candidates", Output: "metrics",
			DeadLetters: "dead-letters", Processor: p, Concurrency: 3, CommitInterval: 5 * time.Millisecond})
	}()
	cons, err := tr.Subscribe(ctx, "metrics", "test")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := cons.Fetch(ctx); err != nil {
			t.Fatalf("fetch metrics: %v", err)
		}
	}
	dl, err := tr.Subscribe(ctx, "dead-letters", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dl.Fetch(ctx); err != nil {
		t.Fatalf("no dead letter for the broken input: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	run, n := p.Snapshot("v7")
	if n != 20 || math.Abs(run["recall@1"]-0.5) > 1e-12 {
		t.Errorf("snapshot %v n %d", run, n)
	}
}
