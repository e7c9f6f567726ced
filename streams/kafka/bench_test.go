package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// BenchmarkRoundTrip1000 publishes 1000 keyed 512-byte messages in one call (acks=all) and
// consumes and commits them as one group member, against an in-process kfake broker.
func BenchmarkRoundTrip1000(b *testing.B) {
	br := startBroker(b, 1)
	tr := newTransport(b, br.Addrs())
	defer tr.Close()
	ctx := b.Context()
	msgs := make([]streams.Message, 1000)
	for i := range msgs {
		msgs[i] = streams.Message{Key: fmt.Appendf(nil, "q-%d", i), Value: make([]byte, 512)}
	}
	run := 0
	var publish time.Duration
	for b.Loop() {
		run++
		topic := fmt.Sprintf("bench-%d", run)
		if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: topic, Partitions: 3}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := tr.Publish(ctx, topic, msgs...); err != nil {
			b.Fatal(err)
		}
		publish += time.Since(start)
		c, err := tr.Subscribe(ctx, topic, "bench")
		if err != nil {
			b.Fatal(err)
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		for range msgs {
			m, err := c.Fetch(fctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Commit(fctx, m); err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		_ = c.Close()
	}
	b.ReportMetric(float64(publish.Milliseconds())/float64(run), "publish-ms/op")
}
