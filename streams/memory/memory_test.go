package memory_test

import (
	"errors"
	"testing"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/streams/streamstest"
)

func TestContract(t *testing.T) {
	streamstest.Run(t, func(t *testing.T) streams.Transport { return memory.New() })
}

func TestMemorySpecifics(t *testing.T) {
	ctx := t.Context()
	tr := memory.New(memory.WithDefaultPartitions(2))
	defer tr.Close()

	// Publishing to an unknown topic creates it with the default partition count; an empty
	// topic argument uses each message's Topic.
	msgs := []streams.Message{{Topic: "auto", Key: []byte("a"), Value: []byte("1")}, {Topic: "auto", Key: []byte("b"), Value: []byte("2")}, {Topic: "auto", Key: []byte("c"), Value: []byte("3")}}
	if err := tr.Publish(ctx, "", msgs...); err != nil {
		t.Fatal(err)
	}
	if err := tr.Publish(ctx, "", streams.Message{Value: []byte("x")}); err == nil {
		t.Error("publish without any topic: want an error")
	}
	a, err := tr.Subscribe(ctx, "auto", "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(streams.LagReporter).Lag(); got != 3 {
		t.Errorf("lag before fetching = %d, want 3", got)
	}
	m, err := a.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Partition >= 2 {
		t.Errorf("partition %d with 2 default partitions", m.Partition)
	}
	if got := a.(streams.LagReporter).Lag(); got != 2 {
		t.Errorf("lag after one fetch = %d, want 2", got)
	}
	// Monotone commits: committing an older offset later does not move the offset back.
	for range 6 {
		if err := tr.Publish(ctx, "auto", streams.Message{Key: m.Key}); err != nil {
			t.Fatal(err)
		}
	}
	later := m
	later.Offset = 5
	beyond := m
	beyond.Offset = 100
	if err := a.Commit(ctx, beyond); err == nil {
		t.Error("commit of an offset past the end: want an error")
	}
	if err := a.Commit(ctx, later, m); err != nil {
		t.Fatal(err)
	}
	if got := tr.Committed("auto", "g")[m.Partition]; got != 6 {
		t.Errorf("committed = %d, want 6 (monotone)", got)
	}

	// A second member takes partition 1; a's commit for partition 1 must then fail.
	b, err := tr.Subscribe(ctx, "auto", "g")
	if err != nil {
		t.Fatal(err)
	}
	stale := streams.Message{Topic: "auto", Partition: 1, Offset: 0}
	if err := a.Commit(ctx, stale); !errors.Is(err, memory.ErrNotAssigned) {
		t.Errorf("commit of a partition moved away: %v, want ErrNotAssigned", err)
	}
	if err := b.Commit(ctx, stale); err != nil {
		t.Errorf("commit by the new owner: %v", err)
	}
	if err := b.Commit(ctx, streams.Message{Topic: "other"}); err == nil {
		t.Error("commit of another topic's message: want an error")
	}

	// Closing the transport wakes blocked fetches with ErrClosed.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := b.Fetch(ctx); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, streams.ErrClosed) {
		t.Errorf("Fetch after transport Close: %v, want ErrClosed", err)
	}
	if err := tr.Publish(ctx, "auto", streams.Message{}); !errors.Is(err, streams.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := tr.Subscribe(ctx, "auto", "g"); !errors.Is(err, streams.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

func TestMessagesAreCopied(t *testing.T) {
	ctx := t.Context()
	tr := memory.New()
	defer tr.Close()
	m := streams.Message{Key: []byte("k"), Value: []byte("value"), Headers: map[string]string{"h": "1"}}
	if err := tr.Publish(ctx, "t", m); err != nil {
		t.Fatal(err)
	}
	m.Value[0] = 'X'
	m.Headers["h"] = "2"
	c, _ := tr.Subscribe(ctx, "t", "g")
	got, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Value) != "value" || got.Headers["h"] != "1" {
		t.Errorf("stored message changed with the caller's buffers: %q %v", got.Value, got.Headers)
	}
}
