package streams

import (
	"context"
	"errors"
	"hash/fnv"
)

// Message is one record on a topic. Topic, Partition and Offset are set by the transport on
// consumed messages; on published messages only Topic (may be empty: the stage's default output),
// Key, Value and Headers matter.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// Publisher writes messages to topics.
type Publisher interface {
	// Publish writes msgs to topic, each to the partition its key hashes to, and returns once
	// all are acknowledged. Messages with the same key keep their order. Safe for concurrent use.
	Publish(ctx context.Context, topic string, msgs ...Message) error
}

// Subscriber creates group consumers.
type Subscriber interface {
	// Subscribe joins consumer group on topic. Consumption starts at the group's committed
	// offsets, or at the beginning of each partition when the group has none.
	Subscribe(ctx context.Context, topic, group string) (Consumer, error)
}

// Consumer reads a topic as a member of a consumer group. Fetch and Commit may be called from
// different goroutines; Fetch itself is not meant for concurrent callers.
type Consumer interface {
	// Fetch blocks until a message is available on an assigned partition or ctx is done.
	// Messages of one partition arrive in offset order.
	Fetch(ctx context.Context) (Message, error)
	// Commit records that msgs (and, per partition, everything before them) are processed:
	// the group resumes after them. Callers commit per partition in increasing order.
	Commit(ctx context.Context, msgs ...Message) error
	// Close leaves the group. Uncommitted messages are redelivered to the next owner.
	Close() error
}

// LagReporter is implemented by consumers that know how far behind the head they are.
type LagReporter interface {
	// Lag returns the number of messages on the assigned partitions not yet fetched.
	Lag() int64
}

// AsyncPublisher is implemented by transports that acknowledge asynchronously; the runner
// uses it to keep many inputs' outputs in flight at once.
type AsyncPublisher interface {
	// PublishAsync hands msgs (each naming its Topic) to the transport and returns; it blocks
	// only while the transport's buffer is full, bounded by ctx. done is called exactly once:
	// with nil once every message is acknowledged, or with the first error. Messages with the
	// same key land in the order of the calls (and after those of earlier Publish calls), and
	// the transport never duplicates a message on its own retries. done may run on a
	// transport goroutine: it must not block and must not call PublishAsync itself.
	PublishAsync(ctx context.Context, msgs []Message, done func(error))
}

// BatchFetcher is implemented by consumers that hand over many messages per call.
type BatchFetcher interface {
	// FetchBatch blocks like Fetch until at least one message is available (or ctx is done,
	// or the consumer is closed) and returns between 1 and max messages, each partition's in
	// offset order. It must not be called concurrently with itself or Fetch.
	FetchBatch(ctx context.Context, max int) ([]Message, error)
}

// PartitionOwner is implemented by consumers that know their current assignment. The runner
// stops tracking (and never commits) inputs of partitions that moved to another member.
type PartitionOwner interface {
	Owns(topic string, partition int) bool
}

// GroupWatcher is implemented by consumers that can see the whole group's position on their
// topic, on every partition, whichever member owns it. The stall watchdog uses it.
type GroupWatcher interface {
	// GroupOffsets returns, per partition of the topic, the group's committed offset (the
	// next offset it will consume; 0 when nothing is committed) and the partition's end.
	GroupOffsets(ctx context.Context) (committed, end map[int]int64, err error)
}

// TxnSubscriber is implemented by transports that offer exactly-once stages (Kafka
// transactions).
type TxnSubscriber interface {
	// SubscribeTxn is Subscribe for a stage whose outputs and input offsets commit atomically:
	// the consumer returned implements Transactor.
	SubscribeTxn(ctx context.Context, topic, group string) (Consumer, error)
}

// Transactor is an exactly-once consumer: the stage publishes its outputs through it, and
// CommitTxn makes them visible (to read-committed consumers) together with the group's
// offsets after every message fetched so far, or discards them.
type Transactor interface {
	AsyncPublisher
	// CommitTxn commits the open transaction and begins the next. It reports false when the
	// transaction had to abort (the group rebalanced): the consumer then fetches the
	// uncommitted inputs again. An error leaves the consumer unusable.
	CommitTxn(ctx context.Context) (bool, error)
	// AbortTxn discards the open transaction; the uncommitted inputs are fetched again.
	AbortTxn(ctx context.Context) error
}

// TopicReader is implemented by transports that can read a whole topic without joining a
// group (no offsets are committed).
type TopicReader interface {
	// ReadTopic calls fn for every message stored on topic, each partition from its first
	// retained offset up to the end it had when the call began, in offset order. An unknown
	// topic has no messages. fn's error stops the read and is returned.
	ReadTopic(ctx context.Context, topic string, fn func(Message) error) error
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Compacted keeps only the latest message per key (for retriever updates).
	Compacted   bool
	RetentionMs int64
}

// Transport is a full transport: publish, subscribe, create topics.
type Transport interface {
	Publisher
	Subscriber
	// EnsureTopics creates missing topics; existing ones are left as they are.
	EnsureTopics(ctx context.Context, specs ...TopicSpec) error
	Close() error
}

// ErrClosed is returned by operations on a closed transport or consumer.
var ErrClosed = errors.New("streams: closed")

// PartitionFor maps a key to one of n partitions. Transports use it so that the same key lands
// in the same partition everywhere. Empty keys go to partition 0.
func PartitionFor(key []byte, n int) int {
	if n <= 1 || len(key) == 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// Processor is one stage's logic. Process returns the messages to publish for msg (none
// filters it out, several fan out); a message whose Topic is empty goes to the stage's output
// topic. Returning an error retries msg with backoff, unless the error is permanent (see
// Permanent), which sends msg to the dead-letter topic. Process may be called concurrently
// when the stage's concurrency is above one.
type Processor interface {
	Process(ctx context.Context, msg Message) ([]Message, error)
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, msg Message) ([]Message, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, msg Message) ([]Message, error) {
	return f(ctx, msg)
}

// Flusher is implemented by processors that buffer (sinks). The runner calls Flush before it
// commits inputs; once Flush returns, the effects of every processed input are durable. The
// runner never calls Flush while Process runs, so a Flusher needs no locking of its own
// against its Process.
type Flusher interface {
	Flush(ctx context.Context) error
}
