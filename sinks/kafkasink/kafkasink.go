package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
	"github.com/lsrflow/lsrflow/streams"
)

// Header names set on every published message.
const (
	HeaderSchemaVersion = "schema_version"
	HeaderTeacherKey    = "teacher_key"
	HeaderRecord        = "record"
)

// Sink publishes scored records to a topic, keyed by query id. Write buffers; Flush publishes
// the buffer and returns once the transport acknowledged every message. Within one Sink a
// record whose DedupKey was already written is skipped; Resume extends that to what an
// earlier run put on the topic. Not safe for concurrent use.
type Sink struct {
	pub   streams.Publisher
	topic string
	seen  map[string]struct{}
	buf   []streams.Message
	// MaxBuffer publishes automatically once this many messages are buffered (default 256).
	MaxBuffer int
	closed    bool
}

var _ sinks.Sink[schemas.Scored] = (*Sink)(nil)

// New returns a sink publishing to topic.
func New(pub streams.Publisher, topic string) (*Sink, error) {
	if pub == nil || topic == "" {
		return nil, errors.New("kafkasink: publisher and topic are required")
	}
	return &Sink{pub: pub, topic: topic, seen: map[string]struct{}{}, MaxBuffer: 256}, nil
}

// Resume reads topic from the beginning with a private consumer group until it is caught up
// (the consumer must report lag, as the memory and Kafka transports do) and remembers every
// record's key, so that a restarted producer does not publish them again. Messages that do
// not decode are ignored.
func (s *Sink) Resume(ctx context.Context, sub streams.Subscriber, group string) (int, error) {
	c, err := sub.Subscribe(ctx, s.topic, group)
	if err != nil {
		return 0, fmt.Errorf("kafkasink: resume: %w", err)
	}
	defer c.Close()
	lr, ok := c.(streams.LagReporter)
	if !ok {
		return 0, errors.New("kafkasink: resume: consumer cannot report lag")
	}
	n := 0
	for lr.Lag() > 0 {
		m, err := c.Fetch(ctx)
		if err != nil {
			return n, fmt.Errorf("kafkasink: resume: %w", err)
		}
		rec, err := schemas.DecodeScored(m.Value)
		if err != nil {
			continue
		}
		s.seen[rec.DedupKey()] = struct{}{}
		n++
	}
	return n, nil
}

// Message encodes a scored record as the sink publishes it.
func Message(rec schemas.Scored) (streams.Message, error) {
	if rec.SchemaVersion == 0 {
		rec.SchemaVersion = schemas.ScoredVersion
	}
	b, err := schemas.Encode(rec)
	if err != nil {
		return streams.Message{}, fmt.Errorf("kafkasink: encode %s: %w", rec.ID, err)
	}
	return streams.Message{
		Key:   []byte(rec.ID),
		Value: b,
		Headers: map[string]string{
			HeaderSchemaVersion: strconv.Itoa(rec.SchemaVersion),
			HeaderTeacherKey:    rec.TeacherKey,
			HeaderRecord:        "scored",
		},
	}, nil
}

// Write buffers rec unless its key was already written; it reports whether rec was new.
func (s *Sink) Write(ctx context.Context, rec schemas.Scored) (bool, error) {
	if s.closed {
		return false, errors.New("kafkasink: closed")
	}
	if rec.ID == "" {
		return false, schemas.Errorf(schemas.ReasonInvalid, "scored record has no id")
	}
	k := rec.DedupKey()
	if _, ok := s.seen[k]; ok {
		return false, nil
	}
	m, err := Message(rec)
	if err != nil {
		return false, err
	}
	s.seen[k] = struct{}{}
	s.buf = append(s.buf, m)
	if len(s.buf) >= max(s.MaxBuffer, 1) {
		return true, s.Flush(ctx)
	}
	return true, nil
}

// Flush publishes the buffered records and waits for their acknowledgement.
func (s *Sink) Flush(ctx context.Context) error {
	if len(s.buf) == 0 {
		return nil
	}
	if err := s.pub.Publish(ctx, s.topic, s.buf...); err != nil {
		return fmt.Errorf("kafkasink: publish %d records to %s: %w", len(s.buf), s.topic, err)
	}
	s.buf = s.buf[:0]
	return nil
}

// Close flushes. It does not close the publisher, which the caller owns.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	err := s.Flush(context.Background())
	s.closed = true
	return err
}
