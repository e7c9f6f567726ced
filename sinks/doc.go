// Package sinks defines where scored records and dead letters end up.
//
// A Sink is idempotent: writing a record whose key it already holds is a no-op, so the
// at-least-once delivery of the transports becomes an exactly-once result. Write may buffer;
// once Flush returns, everything written before is durable (survives a crash of the process),
// and only then does the stage runner commit the inputs that produced it. Implementations live
// below: sinks/jsonl (line files; the seed format and dead letters) and the columnar sinks.
package sinks
