package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
	"github.com/lsrflow/lsrflow/streams/streambench"
)

// The client comparison behind the choice of franz-go (docs/streams.md): the same stage runner
// and two-stage pass-through topology on the same broker, once through this package (franz-go)
// and once through a transport on segmentio/kafka-go as lsrflow used it before (group Reader
// with FetchMessage/CommitMessages), with its asynchronous Writer and completion callbacks for
// PublishAsync. Three interleaved rounds of LSRFLOW_COMPARE_RECORDS (default 50000) 1 KB
// records:
//
//	go test -run '^$' -bench CompareClients -benchtime 1x -v ./streams/kafka/
func BenchmarkCompareClients(t *testing.B) {
	n := 50000
	if v, err := strconv.Atoi(os.Getenv("LSRFLOW_COMPARE_RECORDS")); err == nil && v > 0 {
		n = v
	}
	b := startBroker(t, 1)
	for range t.N {
		compareRounds(t, b.Addrs(), n)
	}
}

func compareRounds(t *testing.B, addrs []string, n int) {
	for round := range 3 {
		for _, client := range []string{"franz-go", "kafka-go"} {
			var tr streams.Transport
			if client == "franz-go" {
				kt, err := kafka.New(kafka.Config{Brokers: addrs})
				if err != nil {
					t.Fatal(err)
				}
				tr = kt
			} else {
				tr = newKafkaGo(addrs)
			}
			res, err := streambench.TwoStage(t.Context(), tr, streambench.Options{Records: n, Size: 1024,
				Prefix: fmt.Sprintf("cmp-%s-%d-%d", client, round, time.Now().UnixNano()), Timeout: 10 * time.Minute})
			_ = tr.Close()
			if err != nil {
				t.Fatalf("%s: %v", client, err)
			}
			t.Logf("round %d %-8s two-stage pass-through: %8.0f records/s", round+1, client, res.PerSecond())
		}
	}
}

// kgTransport is the kafka-go transport for the comparison only.
type kgTransport struct {
	brokers []string
	sync    *kafkago.Writer
	async   *kafkago.Writer
	client  *kafkago.Client

	mu      sync.Mutex
	pending map[uint64]*kgCall // async publish calls by id (a header on each message)
	seq     atomic.Uint64
}

type kgCall struct {
	left int
	err  error
	done func(error)
}

const kgCallHeader = "lsrflow-compare-call"

func newKafkaGo(brokers []string) *kgTransport {
	t := &kgTransport{brokers: brokers, pending: map[uint64]*kgCall{}}
	balancer := kafkago.BalancerFunc(func(m kafkago.Message, parts ...int) int {
		return parts[streams.PartitionFor(m.Key, len(parts))]
	})
	t.sync = &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: balancer, RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond}
	t.async = &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: balancer, RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond,
		Async: true, Completion: t.completed}
	t.client = &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	return t
}

func kgMessages(topic string, msgs []streams.Message, hdr []kafkago.Header) []kafkago.Message {
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		tp := topic
		if tp == "" {
			tp = m.Topic
		}
		out[i] = kafkago.Message{Topic: tp, Key: m.Key, Value: m.Value, Headers: hdr}
	}
	return out
}

func (t *kgTransport) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	return t.sync.WriteMessages(ctx, kgMessages(topic, msgs, nil)...)
}

func (t *kgTransport) PublishAsync(ctx context.Context, msgs []streams.Message, done func(error)) {
	id := t.seq.Add(1)
	t.mu.Lock()
	t.pending[id] = &kgCall{left: len(msgs), done: done}
	t.mu.Unlock()
	hdr := []kafkago.Header{{Key: kgCallHeader, Value: strconv.AppendUint(nil, id, 10)}}
	if err := t.async.WriteMessages(ctx, kgMessages("", msgs, hdr)...); err != nil {
		t.mu.Lock()
		delete(t.pending, id)
		t.mu.Unlock()
		done(err)
	}
}

// completed maps the writer's per-batch completion back to the PublishAsync calls.
func (t *kgTransport) completed(msgs []kafkago.Message, err error) {
	t.mu.Lock()
	var fire []*kgCall
	for _, m := range msgs {
		for _, h := range m.Headers {
			if h.Key != kgCallHeader {
				continue
			}
			id, _ := strconv.ParseUint(string(h.Value), 10, 64)
			c := t.pending[id]
			if c == nil {
				continue
			}
			if err != nil && c.err == nil {
				c.err = err
			}
			if c.left--; c.left == 0 {
				delete(t.pending, id)
				fire = append(fire, c)
			}
		}
	}
	t.mu.Unlock()
	for _, c := range fire {
		c.done(c.err)
	}
}

func (t *kgTransport) EnsureTopics(ctx context.Context, specs ...streams.TopicSpec) error {
	req := &kafkago.CreateTopicsRequest{}
	for _, s := range specs {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: s.Name, NumPartitions: max(s.Partitions, 1), ReplicationFactor: 1})
	}
	resp, err := t.client.CreateTopics(ctx, req)
	if err != nil {
		return err
	}
	for _, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafkago.TopicAlreadyExists) {
			return e
		}
	}
	return nil
}

func (t *kgTransport) Subscribe(ctx context.Context, topic, group string) (streams.Consumer, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: t.brokers, GroupID: group, Topic: topic,
		StartOffset: kafkago.FirstOffset, CommitInterval: 0, HeartbeatInterval: time.Second,
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second, MaxWait: 500 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 500 * time.Millisecond})
	// Wait for the first generation, as the old transport did.
	deadline := time.Now().Add(60 * time.Second)
	for r.Stats().Rebalances == 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = r.Close()
			return nil, fmt.Errorf("kafka-go: no group assignment for %s", group)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &kgConsumer{r: r}, nil
}

func (t *kgTransport) Close() error {
	return errors.Join(t.sync.Close(), t.async.Close())
}

type kgConsumer struct{ r *kafkago.Reader }

func (c *kgConsumer) Fetch(ctx context.Context) (streams.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return streams.Message{}, streams.ErrClosed
		}
		return streams.Message{}, err
	}
	return streams.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}, nil
}

func (c *kgConsumer) Commit(ctx context.Context, msgs ...streams.Message) error {
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafkago.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	return c.r.CommitMessages(ctx, out...)
}

func (c *kgConsumer) Close() error { return c.r.Close() }
