// Package sink is the stage that writes records to sinks.Sink implementations. It decodes each
// input, writes it to every sink (each de-duplicates by record identity) and implements
// streams.Flusher so that the runner commits inputs only after the sinks made them durable.
package sink

import (
	"context"
	"errors"

	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/streams"
)

// Processor writes decoded records of type T to sinks. It emits no outputs.
type Processor[T any] struct {
	Decode func([]byte) (T, error)
	Sinks  []sinks.Sink[T]
	// OnWrite, if set, is called for each record after it was handed to every sink, with
	// whether it was new to the first sink.
	OnWrite func(rec T, isNew bool)
}

// Process implements streams.Processor.
func (p *Processor[T]) Process(ctx context.Context, m streams.Message) ([]streams.Message, error) {
	rec, err := p.Decode(m.Value)
	if err != nil {
		return nil, err
	}
	isNew := false
	for i, s := range p.Sinks {
		n, err := s.Write(ctx, rec)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			isNew = n
		}
	}
	if p.OnWrite != nil {
		p.OnWrite(rec, isNew)
	}
	return nil, nil
}

// Flush implements streams.Flusher.
func (p *Processor[T]) Flush(ctx context.Context) error {
	var errs []error
	for _, s := range p.Sinks {
		errs = append(errs, s.Flush(ctx))
	}
	return errors.Join(errs...)
}
