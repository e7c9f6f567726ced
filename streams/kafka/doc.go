// Package kafka is lsrflow's Kafka transport, built on github.com/twmb/franz-go (kgo).
//
// Publishing goes through one idempotent producer per Transport (acks=all, unlimited internal
// retries): a message is stored once however often the client resends it, and messages of one
// partition keep their order. Publish returns once every message is acknowledged;
// PublishAsync (streams.AsyncPublisher) returns at once and reports the acknowledgement
// through a callback, which lets the stage runner keep many inputs in flight while the
// producer batches their outputs. Keys are placed with streams.PartitionFor (Partitioner), so
// the Kafka and the in-memory transport put a key on the same partition. Headers are mapped
// one to one (a header repeated on the wire keeps its last value). A rejection that resending
// cannot fix (message too large, invalid record) is a streams.Permanent error.
//
// Subscribe starts one franz-go group client per consumer (cooperative-sticky balancing,
// read_committed) and returns once the member has joined and received its first assignment
// (or Config.JoinTimeout passes). Nothing is committed implicitly: Commit returns after the
// group coordinator stored the offsets. A new group starts at the earliest offset. A partition
// that moves to another member restarts there from the group's committed offset, so messages
// fetched but not committed are delivered again (at-least-once); the consumer reports which
// partitions it owns (streams.PartitionOwner) so that the runner never commits a partition it
// lost, and it can read the whole group's committed and end offsets (streams.GroupWatcher) for
// the stall watchdog. With Config.InstanceID members are static (KIP-345): a restarted process
// replaces its crashed predecessor without waiting for the session timeout.
//
// Blocking: Publish, Subscribe, Fetch, FetchBatch, Commit and EnsureTopics block on the
// network and honour their contexts; PublishAsync blocks only while the producer buffer is
// full. Concurrency: Transport is safe for concurrent use; a Consumer's Fetch must not be
// called concurrently with itself, Commit, Owns and Lag may run alongside it.
package kafka
