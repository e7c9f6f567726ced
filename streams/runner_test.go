package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

// collect reads n messages of topic with a fresh group, failing after a deadline.
func collect(t *testing.T, tr streams.Transport, topic string, n int) []streams.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := tr.Subscribe(ctx, topic, "collector-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []streams.Message
	for len(out) < n {
		m, err := c.Fetch(ctx)
		if err != nil {
			t.Fatalf("collected %d of %d messages from %s: %v", len(out), n, topic, err)
		}
		out = append(out, m)
	}
	return out
}

func publishN(t *testing.T, tr streams.Transport, topic string, n int) {
	t.Helper()
	for i := range n {
		if err := tr.Publish(t.Context(), topic, streams.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunnerProcessesPublishesAndCommits(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(3))
	publishN(t, tr, "in", 50)
	var mu sync.Mutex
	seen := map[string]int{}
	proc := streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
		mu.Lock()
		seen[string(m.Value)]++
		mu.Unlock()
		return []streams.Message{{Key: m.Key, Value: append([]byte("x"), m.Value...)}}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- streams.NewRunner(tr, nil, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out", Processor: proc, Concurrency: 4, CommitInterval: 10 * time.Millisecond})
	}()
	out := collect(t, tr, "out", 50)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range out {
		got[string(m.Value)] = true
	}
	for i := range 50 {
		if !got["x"+strconv.Itoa(i)] {
			t.Fatalf("output for %d missing", i)
		}
	}
	// Everything was committed: a restarted stage sees nothing.
	var again atomic.Int32
	ctx2, cancel2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel2()
	_ = streams.NewRunner(tr, nil, nil).Run(ctx2, streams.Stage{Name: "s", Input: "in", Output: "out2",
		Processor: streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
			again.Add(1)
			return nil, nil
		})})
	if again.Load() != 0 {
		t.Fatalf("restarted stage reprocessed %d committed inputs", again.Load())
	}
}

func TestRunnerRetriesThenDeadLetters(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(1))
	publishN(t, tr, "in", 4)
	var calls sync.Map
	proc := streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
		v, _ := calls.LoadOrStore(string(m.Value), new(atomic.Int32))
		n := v.(*atomic.Int32).Add(1)
		switch string(m.Value) {
		case "0": // transient: heals on the third attempt
			if n < 3 {
				return nil, errors.New("flaky")
			}
		case "1": // permanent
			return nil, streams.Permanent("bad_input", errors.New("cannot parse"))
		case "2": // never heals
			return nil, errors.New("always down")
		case "3":
			panic("boom")
		}
		return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go streams.NewRunner(tr, nil, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out", DeadLetters: "dlq", Processor: proc,
		Retry: streams.Backoff{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}})
	out := collect(t, tr, "out", 1)
	if string(out[0].Value) != "0" {
		t.Fatalf("out = %q, want the healed input 0", out[0].Value)
	}
	dl := collect(t, tr, "dlq", 3)
	reasons := map[string]string{}
	for _, m := range dl {
		d, err := schemas.DecodeDeadLetter(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if d.Stage != "s" || d.Topic != "in" {
			t.Fatalf("dead letter %+v lacks stage or topic", d)
		}
		reasons[string(d.Payload)] = d.Reason
	}
	want := map[string]string{"1": "bad_input", "2": "retries_exhausted", "3": "panic"}
	for k, v := range want {
		if reasons[k] != v {
			t.Fatalf("reason for %s = %q, want %q (all: %v)", k, reasons[k], v, reasons)
		}
	}
	if v, _ := calls.Load("1"); v.(*atomic.Int32).Load() != 1 {
		t.Fatal("permanent error was retried")
	}
	if v, _ := calls.Load("2"); v.(*atomic.Int32).Load() != 4 {
		t.Fatalf("transient error tried %d times, want 4", v.(*atomic.Int32).Load())
	}
}

// A slow early input must hold back the commit of later ones in its partition.
func TestRunnerCommitsOnlyContiguousPrefix(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(1))
	publishN(t, tr, "in", 3)
	release := make(chan struct{})
	proc := streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
		if string(m.Value) == "0" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		streams.NewRunner(tr, nil, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out", Processor: proc, Concurrency: 3,
			CommitInterval: 5 * time.Millisecond, ShutdownTimeout: 50 * time.Millisecond})
	}()
	collect(t, tr, "out", 2) // inputs 1 and 2 are done
	time.Sleep(30 * time.Millisecond)
	if c := tr.Committed("in", "lsrflow-s"); len(c) == 1 && c[0] != 0 {
		t.Fatalf("committed offset %d while input 0 is still in flight", c[0])
	}
	cancel() // input 0 does not finish within the shutdown deadline
	<-done
	close(release)
	if c := tr.Committed("in", "lsrflow-s"); len(c) == 1 && c[0] != 0 {
		t.Fatalf("committed %d after an unfinished shutdown; want 0 (everything redelivered)", c[0])
	}
}

// Publish failures are retried and the input is not committed until they succeed.
func TestRunnerRetriesPublish(t *testing.T) {
	inner := memory.New(memory.WithDefaultPartitions(1))
	publishN(t, inner, "in", 1)
	ft := &flakyPublisher{Transport: inner, failures: 3}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go streams.NewRunner(ft, nil, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out",
		Retry: streams.Backoff{Initial: time.Millisecond},
		Processor: streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
			return []streams.Message{{Value: m.Value}}, nil
		})})
	collect(t, inner, "out", 1)
	if ft.calls.Load() < 4 {
		t.Fatalf("publish called %d times, want >= 4", ft.calls.Load())
	}
}

type flakyPublisher struct {
	*memory.Transport
	failures int32
	calls    atomic.Int32
}

func (f *flakyPublisher) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	if f.calls.Add(1) <= f.failures && topic == "out" {
		return fmt.Errorf("broker unavailable")
	}
	return f.Transport.Publish(ctx, topic, msgs...)
}

func TestBackoffDelay(t *testing.T) {
	b := streams.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w*time.Millisecond {
			t.Fatalf("Delay(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}

// The runner's Prometheus series count what happened, per stage and reason.
func TestRunnerMetrics(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(2))
	publishN(t, tr, "in", 10)
	reg := prometheus.NewRegistry()
	m := streams.NewMetrics(reg)
	proc := streams.ProcessorFunc(func(ctx context.Context, msg streams.Message) ([]streams.Message, error) {
		if string(msg.Value) == "3" || string(msg.Value) == "7" {
			return nil, streams.Permanent("bad_input", errors.New("nope"))
		}
		return []streams.Message{{Value: msg.Value}, {Value: msg.Value}}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		streams.NewRunner(tr, m, nil).Run(ctx, streams.Stage{Name: "st", Input: "in", Output: "out", DeadLetters: "dlq", Processor: proc})
	}()
	collect(t, tr, "out", 16)
	collect(t, tr, "dlq", 2)
	cancel()
	<-done
	if got := testutil.ToFloat64(m.In.WithLabelValues("st")); got != 10 {
		t.Fatalf("records_in = %v, want 10", got)
	}
	if got := testutil.ToFloat64(m.Out.WithLabelValues("st")); got != 16 {
		t.Fatalf("records_out = %v, want 16", got)
	}
	if got := testutil.ToFloat64(m.DeadLetters.WithLabelValues("st", "bad_input")); got != 2 {
		t.Fatalf("dead_letters = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.Latency); n != 1 {
		t.Fatalf("latency histogram series = %d, want 1", n)
	}
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"lsrflow_records_in_total", "lsrflow_records_out_total", "lsrflow_dead_letters_total", "lsrflow_process_seconds", "lsrflow_consumer_lag"} {
		if !names[want] {
			t.Fatalf("metric %s not exported (have %v)", want, names)
		}
	}
}

// The stall watchdog: a member that holds a partition and never consumes it (a frozen
// process) stalls the partition; the runner of another member of the group notices, reports
// it in lsrflow_stage_stalled, rejoins, and clears the gauge once the partition moves on.
func TestRunnerStallWatchdog(t *testing.T) {
	tr := memory.New(memory.WithDefaultPartitions(2))
	publishN(t, tr, "in", 40)
	frozen, err := tr.Subscribe(t.Context(), "in", "lsrflow-s")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := streams.NewMetrics(reg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = streams.NewRunner(tr, m, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out",
			StallTimeout: 300 * time.Millisecond, CommitInterval: 10 * time.Millisecond,
			Processor: streams.ProcessorFunc(func(ctx context.Context, msg streams.Message) ([]streams.Message, error) {
				return []streams.Message{{Key: msg.Key, Value: msg.Value}}, nil
			})})
	}()
	waitUntil(t, "the watchdog reports the frozen member's partition", func() bool {
		return testutil.ToFloat64(m.Stalled.WithLabelValues("s")) == 1 && testutil.ToFloat64(m.Rejoins.WithLabelValues("s")) >= 1
	})
	if err := frozen.Close(); err != nil { // the frozen member goes away: its partition moves
		t.Fatal(err)
	}
	out := collect(t, tr, "out", 40)
	seen := map[string]bool{}
	for _, o := range out {
		seen[string(o.Value)] = true
	}
	if len(seen) != 40 {
		t.Fatalf("%d distinct outputs, want 40", len(seen))
	}
	waitUntil(t, "the stall gauge clears", func() bool { return testutil.ToFloat64(m.Stalled.WithLabelValues("s")) == 0 })
	cancel()
	<-done
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingTransport records, per consumer, how far fetching ran ahead of committing.
type countingTransport struct {
	*memory.Transport
	mu       sync.Mutex
	fetched  map[int]int64 // per partition: offset after the last fetched message
	commit   map[int]int64 // per partition: committed offset
	maxAhead int64
}

func (c *countingTransport) Subscribe(ctx context.Context, topic, group string) (streams.Consumer, error) {
	cons, err := c.Transport.Subscribe(ctx, topic, group)
	if err != nil {
		return nil, err
	}
	return &countingConsumer{Consumer: cons, t: c}, nil
}

type countingConsumer struct {
	streams.Consumer
	t *countingTransport
}

func (c *countingConsumer) FetchBatch(ctx context.Context, limit int) ([]streams.Message, error) {
	ms, err := c.Consumer.(streams.BatchFetcher).FetchBatch(ctx, limit)
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	for _, m := range ms {
		c.t.fetched[m.Partition] = m.Offset + 1
	}
	var ahead int64
	for p, f := range c.t.fetched {
		ahead += f - c.t.commit[p]
	}
	c.t.maxAhead = max(c.t.maxAhead, ahead)
	return ms, err
}

func (c *countingConsumer) Commit(ctx context.Context, msgs ...streams.Message) error {
	err := c.Consumer.Commit(ctx, msgs...)
	if err == nil {
		c.t.mu.Lock()
		for _, m := range msgs {
			c.t.commit[m.Partition] = m.Offset + 1
		}
		c.t.mu.Unlock()
	}
	return err
}

// A stage never holds more than MaxInFlight inputs fetched and not committed, however fast it
// processes and however long its commit interval: that bounds the work a crash repeats.
func TestRunnerBoundsUncommitted(t *testing.T) {
	tr := &countingTransport{Transport: memory.New(memory.WithDefaultPartitions(3)), fetched: map[int]int64{}, commit: map[int]int64{}}
	publishN(t, tr, "in", 2000)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = streams.NewRunner(tr, nil, nil).Run(ctx, streams.Stage{Name: "s", Input: "in", Output: "out",
			Concurrency: 4, MaxInFlight: 16, CommitInterval: time.Hour,
			Processor: streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
				return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
			})})
	}()
	collect(t, tr, "out", 2000)
	cancel()
	<-done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.maxAhead > 16 {
		t.Fatalf("fetching ran %d inputs ahead of the commits, MaxInFlight is 16", tr.maxAhead)
	}
	if c := tr.Committed("in", "lsrflow-s"); c[0]+c[1]+c[2] != 2000 {
		t.Fatalf("committed %v, want all 2000 inputs", c)
	}
}
