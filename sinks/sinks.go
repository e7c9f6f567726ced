package sinks

import "context"

// Sink stores records of type T keyed by identity.
type Sink[T any] interface {
	// Write stores rec unless a record with the same key is already stored; it reports whether
	// rec was new. Not safe for concurrent use unless the implementation says so.
	Write(ctx context.Context, rec T) (bool, error)
	// Flush makes every record written so far durable.
	Flush(ctx context.Context) error
	// Close flushes and releases the sink.
	Close() error
}
