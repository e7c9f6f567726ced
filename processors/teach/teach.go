// Package teach is the teacher stage: it turns candidate sets into scored training records
// with a teachers.Teacher and checks every record it emits (parallel arrays, a probability
// distribution) before publishing it.
package teach

import (
	"context"
	"fmt"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
)

// Processor scores candidate sets.
type Processor struct {
	Teacher teachers.Teacher
	// OnScored, if set, sees every valid record before it is published (metrics).
	OnScored func(schemas.Scored)
}

// Process implements streams.Processor.
func (p Processor) Process(ctx context.Context, m streams.Message) ([]streams.Message, error) {
	c, err := schemas.DecodeCandidates(m.Value)
	if err != nil {
		return nil, err
	}
	s, err := p.Teacher.Teach(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("teach %s: %w", c.Query.ID, err)
	}
	if err := s.Validate(); err != nil {
		return nil, streams.Permanent("invalid_scored_record", fmt.Errorf("teacher %s produced an invalid record for %s: %w", s.Teacher.Method, c.Query.ID, err))
	}
	b, err := schemas.Encode(s)
	if err != nil {
		return nil, streams.Permanent("encode", err)
	}
	if p.OnScored != nil {
		p.OnScored(s)
	}
	return []streams.Message{{Key: []byte(s.ID), Value: b}}, nil
}
