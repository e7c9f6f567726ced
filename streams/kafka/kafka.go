package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/streams"
)

// Transport is a streams.Transport on a Kafka cluster.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	dialer *kafkago.Dialer
	writer *kafkago.Writer
	client *kafkago.Client

	mu        sync.Mutex
	closed    bool
	consumers map[*consumer]struct{}
}

var _ streams.Transport = (*Transport)(nil)

// Option configures a Transport beyond its Config.
type Option func(*Transport)

// WithLogger sends kafka-go's error log (and the transport's own notes) to l.
func WithLogger(l *slog.Logger) Option { return func(t *Transport) { t.log = l } }

// New validates cfg and returns a transport. It does not connect: the first call that needs a
// broker does.
func New(cfg Config, opts ...Option) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{cfg: cfg, log: slog.New(slog.DiscardHandler), consumers: map[*consumer]struct{}{}}
	for _, o := range opts {
		o(t)
	}
	t.dialer = &kafkago.Dialer{ClientID: cfg.ClientID, Timeout: cfg.DialTimeout, DualStack: true}
	tr := &kafkago.Transport{ClientID: cfg.ClientID, DialTimeout: cfg.DialTimeout}
	t.writer = &kafkago.Writer{
		Addr:                   kafkago.TCP(cfg.Brokers...),
		Balancer:               Balancer{},
		RequiredAcks:           kafkago.RequireAll,
		Async:                  false,
		BatchTimeout:           cfg.BatchTimeout,
		WriteTimeout:           cfg.WriteTimeout,
		AllowAutoTopicCreation: true,
		Transport:              tr,
		ErrorLogger:            t.errorLogger("writer"),
	}
	t.client = &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: cfg.WriteTimeout, Transport: tr}
	return t, nil
}

func (t *Transport) errorLogger(who string) kafkago.LoggerFunc {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		// kafka-go reports a long poll on an idle partition that outlived its read deadline as
		// an "unknown error ... i/o timeout" and simply fetches again: not worth a warning.
		if strings.Contains(msg, "i/o timeout") {
			t.log.Debug(msg, "component", "kafka-go "+who)
			return
		}
		t.log.Warn(msg, "component", "kafka-go "+who)
	}
}

// Balancer places a message on the partition streams.PartitionFor picks for its key, so the
// Kafka and memory transports agree. Partitions are the topic's partition ids.
type Balancer struct{}

// Balance implements kafkago.Balancer.
func (Balancer) Balance(msg kafkago.Message, partitions ...int) int {
	if !slices.IsSorted(partitions) {
		partitions = slices.Sorted(slices.Values(partitions))
	}
	return partitions[streams.PartitionFor(msg.Key, len(partitions))]
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Publish writes msgs with acks=all and returns once all are acknowledged. When topic is empty
// each message's own Topic is used.
func (t *Transport) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	if t.isClosed() {
		return streams.ErrClosed
	}
	if len(msgs) == 0 {
		return ctx.Err()
	}
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		tp := topic
		if tp == "" {
			tp = m.Topic
		}
		if tp == "" {
			return fmt.Errorf("kafka: publish: message %d has no topic", i)
		}
		out[i] = kafkago.Message{Topic: tp, Key: m.Key, Value: m.Value, Headers: toHeaders(m.Headers)}
	}
	// kafka-go retries UnknownTopicOrPartition a few times while an auto-created topic's
	// metadata propagates; anything else is final.
	if err := t.writer.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("kafka: publish %d message(s) to %q: %w", len(out), out[0].Topic, err)
	}
	return nil
}

func toHeaders(h map[string]string) []kafkago.Header {
	if len(h) == 0 {
		return nil
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]kafkago.Header, len(keys))
	for i, k := range keys {
		out[i] = kafkago.Header{Key: k, Value: []byte(h[k])}
	}
	return out
}

func fromHeaders(hs []kafkago.Header) map[string]string {
	if len(hs) == 0 {
		return nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		out[h.Key] = string(h.Value)
	}
	return out
}

// EnsureTopics creates missing topics; existing ones are left as they are.
func (t *Transport) EnsureTopics(ctx context.Context, specs ...streams.TopicSpec) error {
	if t.isClosed() {
		return streams.ErrClosed
	}
	if len(specs) == 0 {
		return nil
	}
	req := &kafkago.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Name == "" {
			return errors.New("kafka: ensure topics: empty topic name")
		}
		tc := kafkago.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
		if tc.NumPartitions == 0 {
			tc.NumPartitions = t.cfg.DefaultPartitions
		}
		if tc.ReplicationFactor == 0 {
			tc.ReplicationFactor = t.cfg.DefaultReplication
		}
		if s.Compacted {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		if s.RetentionMs != 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(s.RetentionMs, 10)})
		}
		req.Topics = append(req.Topics, tc)
	}
	// A broker that is starting or electing a controller answers with retriable errors
	// (Broker Not Available, Not Controller): retry those for a while before giving up.
	var last error
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(1<<min(attempt, 5)) * 100 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("kafka: create topics: %w (last error: %v)", ctx.Err(), last)
			}
		}
		resp, err := t.client.CreateTopics(ctx, req)
		if err != nil {
			last = fmt.Errorf("kafka: create topics: %w", err)
			if isTemporary(err) {
				continue
			}
			return last
		}
		var errs []error
		retry := false
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("kafka: create topic %q: %w", name, err))
				retry = retry || isTemporary(err)
			}
		}
		last = errors.Join(errs...)
		if last == nil || !retry {
			return last
		}
	}
	return last
}

// isTemporary reports whether a Kafka error is worth retrying (kafka-go marks protocol errors
// such as BrokerNotAvailable and NotController temporary; network errors are too).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Subscribe joins group on topic and returns once the group assigned this member its
// partitions (possibly none, when the group has more members than partitions).
func (t *Transport) Subscribe(ctx context.Context, topic, group string) (streams.Consumer, error) {
	if topic == "" || group == "" {
		return nil, fmt.Errorf("kafka: subscribe: topic %q and group %q must be non-empty", topic, group)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, streams.ErrClosed
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           t.cfg.Brokers,
		GroupID:           group,
		Topic:             topic,
		Dialer:            t.dialer,
		StartOffset:       kafkago.FirstOffset,
		CommitInterval:    0, // synchronous commits, only when Commit is called
		HeartbeatInterval: t.cfg.HeartbeatInterval,
		SessionTimeout:    t.cfg.SessionTimeout,
		RebalanceTimeout:  t.cfg.RebalanceTimeout,
		JoinGroupBackoff:  t.cfg.HeartbeatInterval,
		MaxWait:           t.cfg.MaxWait,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    t.cfg.MaxWait,
		ErrorLogger:       t.errorLogger("reader " + topic + "/" + group),
	})
	c := &consumer{t: t, r: r, topic: topic, group: group}
	t.consumers[c] = struct{}{}
	t.mu.Unlock()

	if err := c.awaitJoin(ctx, t.cfg.JoinTimeout); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("kafka: subscribe %q as group %q: %w", topic, group, err)
	}
	return c, nil
}

// Close closes every consumer and the writer.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	cs := make([]*consumer, 0, len(t.consumers))
	for c := range t.consumers {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	if err := t.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: close writer: %w", err))
	}
	return errors.Join(errs...)
}

// consumer wraps one kafka-go group Reader.
type consumer struct {
	t            *Transport
	r            *kafkago.Reader
	topic, group string

	mu         sync.Mutex
	closed     bool
	rebalances int64 // accumulated: Reader.Stats resets its counters on every call
	lag        int64
}

var _ streams.LagReporter = (*consumer)(nil)

// stats folds a Reader.Stats snapshot into the accumulated counters.
func (c *consumer) stats() {
	s := c.r.Stats()
	c.mu.Lock()
	c.rebalances += s.Rebalances
	c.lag = max(s.Lag, 0)
	c.mu.Unlock()
}

// awaitJoin polls until the reader has received a group generation.
func (c *consumer) awaitJoin(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c.stats()
		c.mu.Lock()
		joined := c.rebalances > 0
		c.mu.Unlock()
		if joined {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a group assignment: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Fetch returns the next message of the assigned partitions.
func (c *consumer) Fetch(ctx context.Context) (streams.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return streams.Message{}, ctx.Err()
		case errors.Is(err, io.EOF):
			return streams.Message{}, streams.ErrClosed
		}
		return streams.Message{}, fmt.Errorf("kafka: fetch %q as group %q: %w", c.topic, c.group, err)
	}
	return streams.Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Headers:   fromHeaders(m.Headers),
	}, nil
}

// Commit synchronously commits offset+1 for each message's partition.
func (c *consumer) Commit(ctx context.Context, msgs ...streams.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return streams.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, c.t.cfg.CommitTimeout)
	defer cancel()
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic != c.topic {
			return fmt.Errorf("kafka: commit: message of topic %q on a consumer of %q", m.Topic, c.topic)
		}
		out[i] = kafkago.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := c.r.CommitMessages(ctx, out...); err != nil {
		if errors.Is(err, io.EOF) {
			return streams.ErrClosed
		}
		return fmt.Errorf("kafka: commit %d offset(s) of %q for group %q: %w", len(out), c.topic, c.group, err)
	}
	return nil
}

// Close leaves the group (uncommitted messages go to the next owner).
func (c *consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.t.mu.Lock()
	delete(c.t.consumers, c)
	c.t.mu.Unlock()
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("kafka: close reader %q/%q: %w", c.topic, c.group, err)
	}
	return nil
}

// Lag is kafka-go's estimate (Reader.Stats) of how far the last fetched partition is behind
// its high watermark; it is approximate when several partitions are assigned.
func (c *consumer) Lag() int64 {
	c.stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lag
}
