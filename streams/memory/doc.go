// Package memory is lsrflow's embedded, in-process transport: it implements streams.Transport
// with the semantics of a single Kafka cluster, so a whole topology can run in one process and
// behave as it would on Kafka.
//
// Topics have a fixed number of append-only partitions; a key goes to the partition
// streams.PartitionFor picks. Publishing to (or subscribing to) an unknown topic creates it with
// the default partition count (WithDefaultPartitions). Publish returns once the messages are
// stored: that is the acknowledgement, and they are consumable from that moment on.
//
// Consumer groups keep a committed offset per (group, topic, partition). The partitions of a
// topic are spread over the live members of a group; a member joining or leaving (Close)
// rebalances at once. A partition that moves to another member restarts there from the committed
// offset, so uncommitted messages are delivered again (at-least-once). Commit sets the committed
// offset to offset+1 and never moves it backwards; committing a message whose partition is no
// longer assigned to the member fails with ErrNotAssigned, and one for an offset that was never
// stored fails too; a failed Commit changes nothing.
//
// Consumers hand over batches (streams.BatchFetcher), report the partitions they own
// (streams.PartitionOwner) and the group's committed and end offsets (streams.GroupWatcher).
//
// Blocking: Consumer.Fetch and FetchBatch block until a message is available on an assigned
// partition, the context is done, or the consumer or transport is closed. Nothing else blocks.
// Concurrency: every method of Transport and Consumer is safe for concurrent use. Fetch serves
// the assigned partitions round-robin so that one busy partition does not starve the others.
// Published messages are copied in: callers may reuse or modify their slices and maps after
// Publish returns. Fetched messages share their Key and Value bytes with the stored log (no
// copy per consumer: that is what makes the transport fast), so consumers treat them as
// read-only, as every Processor does; Headers maps are copies.
//
// Storage is memory: everything stays, unless WithTrimCommitted frees what every group has
// committed (the way Kafka retention moves a log's start offset). Compaction and retention in
// TopicSpec are accepted and ignored.
package memory
