package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RawProduce measures the client's own produce rate, the ceiling the stage runner is compared
// with: n records of value val (keys from key) buffered as fast as the producer takes them,
// with the transport's producer settings (idempotent, acks=all), until every one is
// acknowledged.
func (t *Transport) RawProduce(ctx context.Context, topic string, n int, key func(int) []byte, vals [][]byte) (time.Duration, error) {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	wg.Add(n)
	for i := range n {
		t.prod.Produce(ctx, &kgo.Record{Topic: topic, Key: key(i), Value: vals[i%len(vals)]}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = cmpErr(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("kafka: raw produce: %w", first)
	}
	return time.Since(start), nil
}

// RawConsume measures the client's own consume rate: a plain consumer (no group, no commits)
// reads topic from the start until it has n records.
func (t *Transport) RawConsume(ctx context.Context, topic string, n int) (time.Duration, error) {
	cl, err := kgo.NewClient(append(t.baseOpts("raw consumer"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(t.cfg.MaxWait),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("kafka: raw consume: %d of %d records: %w", got, n, err)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.Canceled) {
				return 0, fmt.Errorf("kafka: raw consume %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		got += fs.NumRecords()
	}
	return time.Since(start), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
