package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lsrflow/lsrflow/streams"
)

// Transport is a streams.Transport on a Kafka cluster.
type Transport struct {
	cfg  Config
	log  *slog.Logger
	prod *kgo.Client // idempotent producer; also sends admin requests

	mu        sync.Mutex
	closed    bool
	consumers map[*consumer]struct{}
}

var (
	_ streams.Transport      = (*Transport)(nil)
	_ streams.AsyncPublisher = (*Transport)(nil)
	_ streams.TopicReader    = (*Transport)(nil)
	_ streams.TxnSubscriber  = (*Transport)(nil)
)

// Option configures a Transport beyond its Config.
type Option func(*Transport)

// WithLogger sends franz-go's warnings and errors (and the transport's own notes) to l.
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
	prod, err := kgo.NewClient(append(t.baseOpts("producer"),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence (franz-go's default): no duplicates from retries
		kgo.ProducerLinger(cfg.BatchTimeout),
		kgo.ProduceRequestTimeout(cfg.WriteTimeout),
		kgo.RecordPartitioner(Partitioner()),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.AllowAutoTopicCreation(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: producer: %w", err)
	}
	t.prod = prod
	return t, nil
}

// baseOpts are the options every client of the transport shares.
func (t *Transport) baseOpts(role string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(t.cfg.Brokers...),
		kgo.ClientID(t.cfg.ClientID),
		kgo.DialTimeout(t.cfg.DialTimeout),
		kgo.WithLogger(&logger{log: t.log, role: role}),
	}
}

// Partitioner places a record on the partition streams.PartitionFor picks for its key, so the
// Kafka and memory transports agree. It requires consistency: a key never moves to another
// partition because its own is unavailable.
func Partitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		return func(r *kgo.Record, n int) int { return streams.PartitionFor(r.Key, n) }
	})
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// records converts msgs, taking each message's own Topic when topic is empty.
func records(topic string, msgs []streams.Message) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		tp := topic
		if tp == "" {
			tp = m.Topic
		}
		if tp == "" {
			return nil, fmt.Errorf("kafka: publish: message %d has no topic", i)
		}
		out[i] = &kgo.Record{Topic: tp, Key: m.Key, Value: m.Value, Headers: toHeaders(m.Headers)}
	}
	return out, nil
}

// Publish writes msgs with acks=all and returns once all are acknowledged. When topic is empty
// each message's own Topic is used. Retries inside the client are idempotent: a message is
// stored once however often it is resent.
func (t *Transport) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	if t.isClosed() {
		return streams.ErrClosed
	}
	if len(msgs) == 0 {
		return ctx.Err()
	}
	recs, err := records(topic, msgs)
	if err != nil {
		return err
	}
	if err := t.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return publishErr(len(recs), recs[0].Topic, err)
	}
	return nil
}

// PublishAsync buffers msgs in the producer and calls done once all are acknowledged or one
// failed. It blocks while the producer holds Config.MaxBufferedRecords records.
func (t *Transport) PublishAsync(ctx context.Context, msgs []streams.Message, done func(error)) {
	if t.isClosed() {
		done(streams.ErrClosed)
		return
	}
	recs, err := records("", msgs)
	if err != nil || len(recs) == 0 {
		done(err)
		return
	}
	var (
		left  atomic.Int64
		first atomic.Pointer[error]
	)
	left.Store(int64(len(recs)))
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			err = publishErr(1, r.Topic, err)
			first.CompareAndSwap(nil, &err)
		}
		if left.Add(-1) == 0 {
			if e := first.Load(); e != nil {
				done(*e)
				return
			}
			done(nil)
		}
	}
	for _, r := range recs {
		t.prod.Produce(ctx, r, promise)
	}
}

// publishErr wraps a produce error; a rejection that resending cannot fix is permanent.
func publishErr(n int, topic string, err error) error {
	if errors.Is(err, kgo.ErrClientClosed) {
		return streams.ErrClosed
	}
	err = fmt.Errorf("kafka: publish %d message(s) to %q: %w", n, topic, err)
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		switch ke {
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage, kerr.InvalidTopicException:
			return streams.Permanent("publish_rejected", err)
		}
	}
	return err
}

func toHeaders(h map[string]string) []kgo.RecordHeader {
	if len(h) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(h))
	out := make([]kgo.RecordHeader, len(keys))
	for i, k := range keys {
		out[i] = kgo.RecordHeader{Key: k, Value: []byte(h[k])}
	}
	return out
}

func fromHeaders(hs []kgo.RecordHeader) map[string]string {
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
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(t.cfg.WriteTimeout.Milliseconds())
	for _, s := range specs {
		if s.Name == "" {
			return errors.New("kafka: ensure topics: empty topic name")
		}
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = s.Name
		rt.NumPartitions = int32(s.Partitions)
		rt.ReplicationFactor = int16(s.ReplicationFactor)
		if rt.NumPartitions == 0 {
			rt.NumPartitions = int32(t.cfg.DefaultPartitions)
		}
		if rt.ReplicationFactor == 0 {
			rt.ReplicationFactor = int16(t.cfg.DefaultReplication)
		}
		conf := func(k, v string) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			rt.Configs = append(rt.Configs, c)
		}
		if s.Compacted {
			conf("cleanup.policy", "compact")
		}
		if s.RetentionMs != 0 {
			conf("retention.ms", strconv.FormatInt(s.RetentionMs, 10))
		}
		req.Topics = append(req.Topics, rt)
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
		resp, err := req.RequestWith(ctx, t.prod)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("kafka: create topics: %w", err)
			}
			last = fmt.Errorf("kafka: create topics: %w", err)
			continue
		}
		var errs []error
		retry := false
		for _, rt := range resp.Topics {
			err := kerr.ErrorForCode(rt.ErrorCode)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("kafka: create topic %q: %w", rt.Topic, err))
				retry = retry || kerr.IsRetriable(err)
			}
		}
		last = errors.Join(errs...)
		if last == nil || !retry {
			return last
		}
	}
	return last
}

// Subscribe joins group on topic and returns once the group assigned this member its
// partitions (possibly none, when the group has more members than partitions).
func (t *Transport) Subscribe(ctx context.Context, topic, group string) (streams.Consumer, error) {
	return t.subscribe(ctx, topic, group, false)
}

// SubscribeTxn is Subscribe for an exactly-once stage (streams.TxnSubscriber): the consumer is
// also a transactional producer; what the stage publishes through it and the group's offsets
// commit together in one Kafka transaction (CommitTxn), or not at all.
func (t *Transport) SubscribeTxn(ctx context.Context, topic, group string) (streams.Consumer, error) {
	return t.subscribe(ctx, topic, group, true)
}

func (t *Transport) subscribe(ctx context.Context, topic, group string, txn bool) (streams.Consumer, error) {
	if topic == "" || group == "" {
		return nil, fmt.Errorf("kafka: subscribe: topic %q and group %q must be non-empty", topic, group)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, streams.ErrClosed
	}
	c := &consumer{t: t, topic: topic, group: group, joined: make(chan struct{}),
		owned: map[int32]bool{}, hwm: map[int32]int64{}, next: map[int32]int64{}}
	opts := append(t.baseOpts("consumer "+topic+"/"+group),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.AllowAutoTopicCreation(), // like the memory transport: subscribing creates the topic
		kgo.DisableAutoCommit(),      // the runner commits contiguous finished prefixes itself
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.SessionTimeout(t.cfg.SessionTimeout),
		kgo.RebalanceTimeout(t.cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(t.cfg.HeartbeatInterval),
		kgo.FetchMaxWait(t.cfg.MaxWait),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.revoked),
	)
	if t.cfg.InstanceID != "" {
		c.instance = t.cfg.InstanceID + "/" + group
		opts = append(opts, kgo.InstanceID(c.instance))
	}
	var err error
	if txn {
		// The transactional id must outlive the process: a restarted process registering it
		// aborts its crashed predecessor's open transaction at once, which would otherwise hold
		// back every read-committed consumer of the outputs until the transaction timeout.
		if c.instance == "" {
			t.mu.Unlock()
			return nil, fmt.Errorf("kafka: exactly-once consumer of %q: set Config.InstanceID (a stable identity per process)", group)
		}
		opts = append(opts,
			kgo.TransactionalID(c.instance+"/txn"),
			kgo.TransactionTimeout(t.cfg.TransactionTimeout),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(t.cfg.BatchTimeout),
			kgo.RecordPartitioner(Partitioner()),
			kgo.MaxBufferedRecords(t.cfg.MaxBufferedRecords),
		)
		c.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			c.cl = c.sess.Client()
		}
	} else {
		c.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		t.mu.Unlock()
		return nil, fmt.Errorf("kafka: subscribe %q as group %q: %w", topic, group, err)
	}
	t.consumers[c] = struct{}{}
	t.mu.Unlock()

	// The client joins in the background; OnPartitionsAssigned runs once the join is done,
	// even with nothing assigned.
	timer := time.NewTimer(t.cfg.JoinTimeout)
	defer timer.Stop()
	select {
	case <-c.joined:
	case <-ctx.Done():
		_ = c.Close()
		return nil, ctx.Err()
	case <-timer.C:
		_ = c.Close()
		return nil, fmt.Errorf("kafka: subscribe %q as group %q: no group assignment within %v", topic, group, t.cfg.JoinTimeout)
	}
	if txn {
		if err := c.sess.Begin(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("kafka: subscribe %q as group %q: beginning a transaction: %w", topic, group, err)
		}
		return &txnConsumer{consumer: c}, nil
	}
	return c, nil
}

// Close closes every consumer and the producer.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	cs := slices.Collect(maps.Keys(t.consumers))
	t.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	// Flush what is buffered so that a Publish racing Close is not silently dropped.
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.WriteTimeout)
	defer cancel()
	if err := t.prod.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: flushing the producer: %w", err))
	}
	t.prod.Close()
	return errors.Join(errs...)
}

// logger adapts franz-go's logger to slog: warnings and errors only.
type logger struct {
	log  *slog.Logger
	role string
}

func (l *logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l *logger) Log(level kgo.LogLevel, msg string, kv ...any) {
	kv = append(kv, "component", "franz-go "+l.role)
	switch level {
	case kgo.LogLevelError:
		l.log.Error(msg, kv...)
	case kgo.LogLevelWarn:
		l.log.Warn(msg, kv...)
	default:
		l.log.Debug(msg, kv...)
	}
}
