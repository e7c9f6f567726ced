// Package kafka is lsrflow's Kafka transport, built on github.com/segmentio/kafka-go.
//
// Publish writes synchronously with acks=all: it returns once every broker replica acknowledged
// every message. Keys are placed with streams.PartitionFor (via a kafka-go Balancer), so the
// Kafka and the in-memory transport put a key on the same partition. Headers are mapped one to
// one (a header repeated on the wire keeps its last value).
//
// Subscribe starts a kafka-go group Reader and returns once the reader has joined the group and
// received its first assignment (or Config.JoinTimeout passes). Consumption uses FetchMessage
// and CommitMessages with CommitInterval 0: nothing is committed implicitly and Commit returns
// after the broker stored the offsets. A new group starts at the earliest offset. After a
// rebalance, every partition restarts at the group's committed offset, so messages fetched but
// not committed are delivered again (at-least-once). Unlike the memory transport, Kafka does not
// reject a commit for a partition that moved to another member; the runner commits only
// contiguous prefixes, and the new owner re-processes from the committed offset.
//
// Blocking: Publish, Subscribe, Fetch, Commit and EnsureTopics block on the network and honour
// their contexts. Concurrency: Transport is safe for concurrent use; a Consumer's Fetch must not
// be called concurrently with itself, Commit and Lag may run alongside it.
package kafka
