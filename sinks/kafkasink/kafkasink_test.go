package kafkasink_test

import (
	"context"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/kafkasink"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

func rec(id string) schemas.Scored {
	return schemas.Scored{ID: id, Query: "q " + id, Pos: []string{"a", "b"}, Scores: []float64{0.5, 0.5},
		PassageIDs: []string{"1", "2"}, RetrieverScores: []float64{2, 1}, TeacherScores: []float64{1, 1}, TeacherKey: "tk"}
}

func drain(t *testing.T, tr *memory.Transport, topic string, n int) []streams.Message {
	t.Helper()
	c, err := tr.Subscribe(t.Context(), topic, "reader")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []streams.Message
	for len(out) < n {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		m, err := c.Fetch(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, m)
	}
	if lag := c.(streams.LagReporter).Lag(); lag != 0 {
		t.Fatalf("%d more messages than expected", lag)
	}
	return out
}

func TestPublishKeyedAndIdempotent(t *testing.T) {
	ctx := t.Context()
	tr := memory.New(memory.WithDefaultPartitions(3))
	defer tr.Close()
	if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: "scored", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	s, err := kafkasink.New(tr, "scored")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "a", "c", "b"} {
		if _, err := s.Write(ctx, rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := drain(t, tr, "scored", 3)
	for _, m := range msgs {
		r, err := schemas.DecodeScored(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != r.ID || m.Partition != streams.PartitionFor(m.Key, 3) {
			t.Fatalf("message key %q partition %d for record %s", m.Key, m.Partition, r.ID)
		}
		if m.Headers[kafkasink.HeaderTeacherKey] != "tk" || m.Headers[kafkasink.HeaderSchemaVersion] != "1" {
			t.Fatalf("headers %v", m.Headers)
		}
	}

	// A restarted producer resumes from the topic and skips what is there.
	s2, _ := kafkasink.New(tr, "scored")
	n, err := s2.Resume(ctx, tr, "resume-1")
	if err != nil || n != 3 {
		t.Fatalf("resume read %d, err %v", n, err)
	}
	for _, id := range []string{"a", "d"} {
		isNew, err := s2.Write(ctx, rec(id))
		if err != nil || isNew != (id == "d") {
			t.Fatalf("write %s after resume: new=%v err=%v", id, isNew, err)
		}
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, tr, "scored", 4); len(got) != 4 {
		t.Fatalf("got %d", len(got))
	}
}
