package streamstest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

// Harness runs stages on an in-memory transport so that users can test their own Processors
// end to end (publish inputs, run the real stage runner, read the output topics). Stages stop
// and are waited for when the test ends.
type Harness struct {
	tb        testing.TB
	Transport *memory.Transport
	runner    *streams.Runner
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// NewHarness returns a harness on a fresh memory transport (opts configure it).
func NewHarness(tb testing.TB, opts ...memory.Option) *Harness {
	tr := memory.New(opts...)
	ctx, cancel := context.WithCancel(context.Background())
	h := &Harness{tb: tb, Transport: tr, runner: streams.NewRunner(tr, nil, slog.New(slog.DiscardHandler)), ctx: ctx, cancel: cancel}
	tb.Cleanup(func() {
		h.cancel()
		h.wg.Wait()
		_ = tr.Close()
	})
	return h
}

// Publish writes msgs to topic, failing the test on error.
func (h *Harness) Publish(topic string, msgs ...streams.Message) {
	h.tb.Helper()
	if err := h.Transport.Publish(h.ctx, topic, msgs...); err != nil {
		h.tb.Fatalf("harness: publish to %s: %v", topic, err)
	}
}

// PublishValues publishes one message per value, keyed by the value itself.
func (h *Harness) PublishValues(topic string, values ...string) {
	h.tb.Helper()
	msgs := make([]streams.Message, len(values))
	for i, v := range values {
		msgs[i] = streams.Message{Key: []byte(v), Value: []byte(v)}
	}
	h.Publish(topic, msgs...)
}

// Start runs st with the real runner until the test ends. A runner error fails the test.
func (h *Harness) Start(st streams.Stage) {
	h.tb.Helper()
	if err := st.Validate(); err != nil {
		h.tb.Fatalf("harness: stage %s: %v", st.Name, err)
	}
	h.wg.Go(func() {
		if err := h.runner.Run(h.ctx, st); err != nil && !errors.Is(err, context.Canceled) {
			h.tb.Errorf("harness: stage %s: %v", st.Name, err)
		}
	})
}

// Messages returns what is on topic now, partition by partition in offset order.
func (h *Harness) Messages(topic string) []streams.Message { return h.Transport.Messages(topic) }

// WaitFor polls until topic holds at least n messages and returns them; it fails the test
// after timeout (30s when zero).
func (h *Harness) WaitFor(topic string, n int, timeout time.Duration) []streams.Message {
	h.tb.Helper()
	if timeout == 0 {
		timeout = waitFor
	}
	deadline := time.Now().Add(timeout)
	for {
		msgs := h.Messages(topic)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("harness: %d of %d messages on %s after %v", len(msgs), n, topic, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
