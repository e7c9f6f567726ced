package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
	"github.com/lsrflow/lsrflow/streams/streamstest"
)

func TestContractThreeBrokers(t *testing.T) {
	b := startBroker(t, 3)
	streamstest.Run(t, func(t *testing.T) streams.Transport { return newTransport(t, b.Addrs()) })
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  kafka.Config
		ok   bool
	}{
		{"defaults", kafka.Config{Brokers: []string{"127.0.0.1:9092"}}, true},
		{"no brokers", kafka.Config{}, false},
		{"broker without port", kafka.Config{Brokers: []string{"localhost"}}, false},
		{"negative timeout", kafka.Config{Brokers: []string{"h:1"}, DialTimeout: -time.Second}, false},
		{"heartbeat above session", kafka.Config{Brokers: []string{"h:1"}, HeartbeatInterval: 5 * time.Second, SessionTimeout: time.Second}, false},
		{"negative partitions", kafka.Config{Brokers: []string{"h:1"}, DefaultPartitions: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if _, nerr := kafka.New(tc.cfg); (nerr == nil) != tc.ok {
				t.Errorf("New() = %v, want ok=%v", nerr, tc.ok)
			}
		})
	}
	if got := kafka.ParseBrokers(" a:1, ,b:2,"); fmt.Sprint(got) != "[a:1 b:2]" {
		t.Errorf("ParseBrokers = %v", got)
	}
}

func TestPartitionerAgreesWithPartitionFor(t *testing.T) {
	p := kafka.Partitioner()
	for _, n := range []int{1, 2, 3, 7, 16} {
		tp := p.ForTopic("t")
		for i := range 200 {
			key := fmt.Appendf(nil, "q-%d", i)
			if !tp.RequiresConsistency(&kgo.Record{Key: key}) {
				t.Fatal("the partitioner must keep a key on its partition")
			}
			if got, want := tp.Partition(&kgo.Record{Key: key}, n), streams.PartitionFor(key, n); got != want {
				t.Fatalf("n=%d key %s: partitioner %d, PartitionFor %d", n, key, got, want)
			}
		}
	}
}

func TestEnsureTopicsConfig(t *testing.T) {
	b := startBroker(t, 1)
	tr := newTransport(t, b.Addrs())
	defer tr.Close()
	ctx := t.Context()
	spec := streams.TopicSpec{Name: "retriever-updates", Partitions: 2, ReplicationFactor: 1, Compacted: true, RetentionMs: 3600000}
	if err := tr.EnsureTopics(ctx, spec); err != nil {
		t.Fatal(err)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...)}
	resp, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: spec.Name, ConfigNames: []string{"cleanup.policy", "retention.ms"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	if got["cleanup.policy"] != "compact" || got["retention.ms"] != "3600000" {
		t.Errorf("topic configs %v, want cleanup.policy=compact retention.ms=3600000", got)
	}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{spec.Name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 2 {
		t.Errorf("metadata %+v, want one topic with 2 partitions", meta.Topics)
	}
}

// TestCrashRedelivers closes a reader without committing what it fetched (a crash between
// processing and commit); the next member of the group must get those messages again.
func TestCrashRedelivers(t *testing.T) {
	b := startBroker(t, 1)
	tr := newTransport(t, b.Addrs())
	defer tr.Close()
	ctx := t.Context()
	if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: "q", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	var msgs []streams.Message
	for i := range 30 {
		msgs = append(msgs, streams.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := tr.Publish(ctx, "q", msgs...); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Subscribe(ctx, "q", "crash")
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{}
	for i := range 30 {
		m := mustFetch(t, c)
		if i < 10 {
			if err := c.Commit(ctx, m); err != nil {
				t.Fatal(err)
			}
			committed[string(m.Value)] = true
		}
	}
	_ = c.Close() // "crash": 20 fetched, never committed

	c2, err := tr.Subscribe(ctx, "q", "crash")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 30 - len(committed) {
		m := mustFetch(t, c2)
		if committed[string(m.Value)] {
			t.Errorf("committed %s redelivered", m.Value)
		}
		seen[string(m.Value)] = true
	}
	if len(seen) != 20 {
		t.Errorf("redelivered %d distinct messages, want the 20 uncommitted", len(seen))
	}
	if lag := c2.(streams.LagReporter).Lag(); lag != 0 {
		t.Errorf("lag after consuming everything = %d", lag)
	}
}

// TestRebalanceWhileConsuming starts a second reader while the first is mid-stream, the way a
// scaled-out stage does: every message is processed at least once, every message committed
// before the rebalance is not redelivered, and per-partition order holds for each reader.
func TestRebalanceWhileConsuming(t *testing.T) {
	b := startBroker(t, 1)
	tr := newTransport(t, b.Addrs())
	defer tr.Close()
	// Generous: a rebalance under heavy machine load took close to a minute once.
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: "q", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	const n = 400
	var msgs []streams.Message
	for i := range n {
		msgs = append(msgs, streams.Message{Key: fmt.Appendf(nil, "k%d", i%40), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := tr.Publish(ctx, "q", msgs...); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		seen    = map[string]int{}
		per     [2]int
		members []streams.Consumer
		wg      sync.WaitGroup
	)
	done := make(chan struct{})
	reached50, joined := make(chan struct{}), make(chan struct{})
	consume := func(c streams.Consumer, id int) {
		last := map[int]int64{}
		for fetched := 0; ; fetched++ {
			if id == 0 && fetched == 50 {
				// Hold the first member mid-stream until the second has joined, so the
				// rebalance happens with 350 messages still to go.
				close(reached50)
				select {
				case <-joined:
				case <-ctx.Done():
					return
				}
			}
			m, err := c.Fetch(ctx)
			if err != nil {
				return
			}
			// Within one generation offsets rise; after a rebalance a partition may restart
			// lower (redelivery), never skip ahead past uncommitted offsets.
			if prev, ok := last[m.Partition]; ok && m.Offset > prev+1 {
				t.Errorf("member %d partition %d: offset %d after %d skips messages", id, m.Partition, m.Offset, prev)
			}
			last[m.Partition] = m.Offset
			if err := c.Commit(ctx, m); err != nil {
				t.Logf("member %d commit during rebalance: %v", id, err)
			}
			mu.Lock()
			seen[string(m.Value)]++
			per[id]++
			if len(seen) == n {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			mu.Unlock()
		}
	}
	first, err := tr.Subscribe(ctx, "q", "scale")
	if err != nil {
		t.Fatal(err)
	}
	members = append(members, first)
	wg.Go(func() { consume(first, 0) })
	select {
	case <-reached50:
	case <-ctx.Done():
		t.Fatal("first member did not reach 50 messages")
	}
	second, err := tr.Subscribe(ctx, "q", "scale")
	if err != nil {
		t.Fatal(err)
	}
	close(joined)
	members = append(members, second)
	wg.Go(func() { consume(second, 1) })
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		t.Fatalf("only %d of %d messages consumed", got, n)
	}
	cancel()
	wg.Wait()
	for _, m := range members {
		_ = m.Close()
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	if per[1] == 0 {
		t.Error("the member that joined mid-stream got no partitions")
	}
	t.Logf("%d messages (member 0: %d, member 1: %d), %d redelivered across the rebalance", n, per[0], per[1], dups)
}

func mustFetch(t *testing.T, c streams.Consumer) streams.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return m
}
