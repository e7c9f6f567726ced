// Package kafkasink publishes scored training records to a topic through any
// streams.Publisher (the in-memory transport or Kafka), keyed by query id so that records of
// one query keep their order on one partition. Values are the JSON encoding of
// schemas.Scored (schemas.DecodeScored reads them); headers carry the schema version and the
// teacher key.
//
// Delivery: Write buffers and Flush returns only after the transport acknowledged every
// buffered message, so the stage runner may commit the inputs afterwards. The sink skips
// records it already published in this process (and, after Resume, those an earlier run put
// on the topic). A crash between publish and commit can still leave a duplicate on the topic;
// consumers that write idempotent sinks keyed by Scored.DedupKey make the result exactly-once.
package kafkasink
