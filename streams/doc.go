// Package streams holds lsrflow's transport contracts and the stage runner.
//
// A transport moves Messages between named topics. Publisher.Publish returns only once every
// message is acknowledged by the transport (stored in memory, or acked by the Kafka brokers
// with acks=all). A Consumer belongs to a consumer group: it receives messages from the
// partitions assigned to it and commits offsets explicitly; nothing is committed automatically.
// Delivery is at-least-once: after a crash or a rebalance, messages after the last committed
// offset are delivered again. Optional interfaces let a transport do more: AsyncPublisher
// (acknowledgements by callback), BatchFetcher, PartitionOwner, GroupWatcher (the group's
// offsets, for the stall watchdog), TopicReader (read a topic back without a group) and
// TxnSubscriber/Transactor (exactly-once stages). Implementations live below this package:
// streams/memory (the embedded, in-process transport) and streams/kafka (franz-go).
// streams/streamstest is the contract suite both pass.
//
// The Runner drives one Stage as a pipeline: fetch in batches -> Processor.Process on
// Concurrency workers (inputs with the same key one after the other) -> publish without
// waiting -> acknowledged -> commit. At most MaxInFlight inputs are fetched and not yet
// committed, which bounds memory and the work a crash repeats. An input is committed only
// after every output it caused is acknowledged, and only as part of the contiguous prefix of
// finished offsets of its partition, so a crash at any moment loses nothing (inputs are
// re-delivered) and sinks keyed by record identity make the result exactly-once. Errors are
// retried with backoff unless they are permanent (Permanent, or a schemas.DecodeError); a
// permanent error, a panic, or retries exhausted send the input to the dead-letter topic with
// the stage, the reason and the original bytes. A stall watchdog rejoins the group when a
// partition has lag and no progress (lsrflow_stage_stalled). docs/streams.md has the details
// and the measurements.
package streams
