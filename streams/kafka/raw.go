package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lsrflow/lsrflow/streams"
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

// ReadTopic reads every message of topic from each partition's log start to the end (last
// stable offset) it had when the call began, with a plain consumer: no group, no commits
// (streams.TopicReader). An unknown topic is not created and has no messages.
func (t *Transport) ReadTopic(ctx context.Context, topic string, fn func(streams.Message) error) error {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	meta.AllowAutoTopicCreation = false
	mresp, err := meta.RequestWith(ctx, t.prod)
	if err != nil {
		return fmt.Errorf("kafka: read %q: metadata: %w", topic, err)
	}
	var parts []int32
	for _, mt := range mresp.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil
			}
			return fmt.Errorf("kafka: read %q: metadata: %w", topic, err)
		}
		for _, p := range mt.Partitions {
			parts = append(parts, p.Partition)
		}
	}
	start, err := t.listOffsets(ctx, topic, parts, -2)
	if err != nil {
		return err
	}
	end, err := t.listOffsets(ctx, topic, parts, -1)
	if err != nil {
		return err
	}
	from := map[int32]kgo.Offset{}
	for _, p := range parts {
		if end[p] > start[p] {
			from[p] = kgo.NewOffset().At(start[p])
		}
	}
	if len(from) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(t.baseOpts("reader "+topic),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(t.cfg.MaxWait),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Transaction markers take offsets but are never delivered: a partition is also done when
	// a poll brings nothing more for a while.
	idle := 2*t.cfg.MaxWait + time.Second
	for len(from) > 0 {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			return nil
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				return fmt.Errorf("kafka: read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		var ferr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if ferr != nil || r.Offset >= end[p.Partition] {
					break
				}
				ferr = fn(streams.Message{Topic: r.Topic, Partition: int(r.Partition), Offset: r.Offset,
					Key: r.Key, Value: r.Value, Headers: fromHeaders(r.Headers)})
			}
			if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 >= end[p.Partition] {
				delete(from, p.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// listOffsets returns each partition's earliest (ts -2) or last stable (ts -1) offset.
func (t *Transport) listOffsets(ctx context.Context, topic string, parts []int32, ts int64) (map[int32]int64, error) {
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.IsolationLevel = 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range parts {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, ts
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	resp, err := lo.RequestWith(ctx, t.prod)
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets of %q: %w", topic, err)
	}
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, p.Partition, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}
