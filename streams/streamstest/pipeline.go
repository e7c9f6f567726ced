package streamstest

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// The subtests below cover what the pipelined runner relies on. A transport that does not
// offer an optional interface skips nothing silently: the subtest checks that the runner's
// fallback path (plain Fetch, synchronous Publish) gives the same result where it applies,
// and otherwise reports that the interface is not implemented.

func testFetchBatch(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	const n = 300
	e.publish(topic, keyed(n, 17)...)
	c, ok := e.subscribe(topic, group).(streams.BatchFetcher)
	if !ok {
		e.t.Log("transport does not implement streams.BatchFetcher: the runner fetches one by one")
		return
	}
	var got []streams.Message
	ctx, cancel := context.WithTimeout(e.ctx(), waitFor)
	defer cancel()
	for len(got) < n {
		ms, err := c.FetchBatch(ctx, 64)
		if err != nil {
			e.t.Fatalf("FetchBatch after %d messages: %v", len(got), err)
		}
		if len(ms) == 0 || len(ms) > 64 {
			e.t.Fatalf("FetchBatch(64) returned %d messages, want 1..64", len(ms))
		}
		got = append(got, ms...)
	}
	checkPlacement(e.t, topic, got)
	last := map[int]int64{}
	for _, m := range got {
		if prev, ok := last[m.Partition]; ok && m.Offset != prev+1 {
			e.t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
	}
	// An empty topic blocks until the context ends.
	short, cancelShort := context.WithTimeout(e.ctx(), 200*time.Millisecond)
	defer cancelShort()
	if ms, err := c.FetchBatch(short, 10); err == nil {
		e.t.Errorf("FetchBatch on a drained topic returned %d messages and no error", len(ms))
	}
}

func testPublishAsync(e env) {
	ap, ok := e.tr.(streams.AsyncPublisher)
	if !ok {
		e.t.Log("transport does not implement streams.AsyncPublisher: the runner publishes synchronously in batches")
		return
	}
	topic := e.topic(partitions)
	_, group := names(e.t)
	const calls, per, keys = 200, 3, 5
	var (
		acked  atomic.Int32
		twice  atomic.Int32
		failed atomic.Int32
		wg     sync.WaitGroup
	)
	for i := range calls {
		msgs := make([]streams.Message, per)
		for j := range msgs {
			msgs[j] = streams.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%keys), Value: fmt.Appendf(nil, "%d.%d", i, j)}
		}
		var once atomic.Bool
		wg.Add(1)
		ap.PublishAsync(e.ctx(), msgs, func(err error) {
			if once.Swap(true) {
				twice.Add(1)
				return
			}
			if err != nil {
				failed.Add(1)
			}
			acked.Add(1)
			wg.Done()
		})
	}
	wg.Wait()
	if twice.Load() > 0 || failed.Load() > 0 || acked.Load() != calls {
		e.t.Fatalf("PublishAsync: %d acknowledged, %d failed, %d callbacks called twice; want %d, 0, 0", acked.Load(), failed.Load(), twice.Load(), calls)
	}
	got := e.drain(calls*per, e.subscribe(topic, group))[0]
	checkPlacement(e.t, topic, got)
	perKey := map[string][]string{}
	for _, m := range got {
		perKey[string(m.Key)] = append(perKey[string(m.Key)], string(m.Value))
	}
	for k := range keys {
		var want []string
		for i := k; i < calls; i += keys {
			for j := range per {
				want = append(want, fmt.Sprintf("%d.%d", i, j))
			}
		}
		if key := fmt.Sprintf("k%d", k); !slices.Equal(perKey[key], want) {
			e.t.Errorf("key %s: messages out of call order:\n got %v\nwant %v", key, perKey[key], want)
		}
	}
}

func testOwners(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	a := e.subscribe(topic, group)
	b := e.subscribe(topic, group)
	pa, oka := a.(streams.PartitionOwner)
	pb, okb := b.(streams.PartitionOwner)
	if !oka || !okb {
		e.t.Log("transport does not implement streams.PartitionOwner")
		return
	}
	// Membership settles asynchronously on Kafka: wait until the two own every partition
	// exactly once.
	deadline := time.Now().Add(waitFor)
	for {
		owners := make([]int, partitions)
		for p := range partitions {
			if pa.Owns(topic, p) {
				owners[p]++
			}
			if pb.Owns(topic, p) {
				owners[p]++
			}
		}
		if slices.Equal(owners, []int{1, 1, 1}) {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("owners per partition %v, want each partition owned by exactly one member", owners)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pa.Owns("other-topic", 0) {
		e.t.Error("Owns reports a partition of a topic the member does not consume")
	}
	if err := b.Close(); err != nil {
		e.t.Fatal(err)
	}
	for p := range partitions {
		if pb.Owns(topic, p) {
			e.t.Errorf("closed member still owns partition %d", p)
		}
	}
}

func testGroupOffsets(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	const n = 60
	msgs := keyed(n, 20)
	e.publish(topic, msgs...)
	c := e.subscribe(topic, group)
	gw, ok := c.(streams.GroupWatcher)
	if !ok {
		e.t.Log("transport does not implement streams.GroupWatcher: no stall watchdog")
		return
	}
	wantEnd := map[int]int64{}
	for _, m := range msgs {
		wantEnd[streams.PartitionFor(m.Key, partitions)]++
	}
	// Commit the first two offsets of every partition.
	wantCommitted := map[int]int64{}
	for range n {
		m := e.fetch(c)
		if m.Offset < 2 {
			e.commit(c, m)
			wantCommitted[m.Partition] = max(wantCommitted[m.Partition], m.Offset+1)
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx(), waitFor)
	defer cancel()
	committed, end, err := gw.GroupOffsets(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for p := range partitions {
		if end[p] != wantEnd[p] || committed[p] != wantCommitted[p] {
			e.t.Errorf("partition %d: committed %d end %d, want %d %d", p, committed[p], end[p], wantCommitted[p], wantEnd[p])
		}
	}
}

func testReadTopic(e env) {
	rd, ok := e.tr.(streams.TopicReader)
	if !ok {
		e.t.Log("transport does not implement streams.TopicReader")
		return
	}
	topic := e.topic(partitions)
	const n = 90
	e.publish(topic, keyed(n, 30)...)
	var got []streams.Message
	if err := rd.ReadTopic(e.ctx(), topic, func(m streams.Message) error {
		got = append(got, m)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	if len(got) != n {
		e.t.Fatalf("ReadTopic returned %d messages, want %d", len(got), n)
	}
	checkPlacement(e.t, topic, got)
	want := values(keyed(n, 30))
	have := values(got)
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(have, want) {
		e.t.Errorf("ReadTopic values differ from the published ones")
	}
	// Reading commits nothing: a group still starts at the beginning.
	_, group := names(e.t)
	if m := e.fetch(e.subscribe(topic, group)); m.Offset != 0 {
		e.t.Errorf("after ReadTopic a new group starts at offset %d", m.Offset)
	}
	// An unknown topic has no messages and is not an error.
	unknown, _ := names(e.t)
	if err := rd.ReadTopic(e.ctx(), unknown+"-never-created", func(streams.Message) error {
		e.t.Error("ReadTopic of an unknown topic called fn")
		return nil
	}); err != nil {
		e.t.Errorf("ReadTopic of an unknown topic: %v", err)
	}
}

// testRunnerPipeline runs the real stage runner on the transport: a pass-through stage with
// several workers and random processing delays over keys that repeat. Every input's output
// arrives, outputs of one key keep input order, and after the stage stops everything is
// committed (a restarted stage gets nothing).
func testRunnerPipeline(e env) {
	in, out := e.topic(partitions), e.topic(partitions)
	_, group := names(e.t)
	const n, keys = 400, 23
	e.publish(in, keyed(n, keys)...)
	proc := streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
		h := fnv.New32a()
		_, _ = h.Write(m.Value)
		if h.Sum32()%7 == 0 { // some inputs are slow: later ones overtake them
			time.Sleep(time.Duration(h.Sum32()%5) * time.Millisecond)
		}
		return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
	})
	ctx, cancel := context.WithCancel(e.ctx())
	done := make(chan error, 1)
	runner := streams.NewRunner(e.tr, nil, nil)
	go func() {
		done <- runner.Run(ctx, streams.Stage{Name: "pipe", Group: group, Input: in, Output: out, Processor: proc,
			Concurrency: 4, MaxInFlight: 64, CommitInterval: 10 * time.Millisecond})
	}()
	_, collector := names(e.t)
	got := e.drain(n, e.subscribe(out, collector))[0]
	perKey := map[string][]string{}
	seen := map[string]bool{}
	for _, m := range got {
		if !seen[string(m.Value)] { // a redelivery after a rebalance repeats, never reorders
			perKey[string(m.Key)] = append(perKey[string(m.Key)], string(m.Value))
		}
		seen[string(m.Value)] = true
	}
	for k := range keys {
		var want []string
		for i := k; i < n; i += keys {
			want = append(want, fmt.Sprintf("v%d", i))
		}
		if key := fmt.Sprintf("k%d", k); !slices.Equal(perKey[key], want) {
			e.t.Errorf("key %s: outputs out of input order:\n got %v\nwant %v", key, perKey[key], want)
		}
	}
	// Let the committer catch up, then stop: the final commit covers everything.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		e.t.Fatalf("runner: %v", err)
	}
	c := e.subscribe(in, group)
	short, cancelShort := context.WithTimeout(e.ctx(), 500*time.Millisecond)
	defer cancelShort()
	if m, err := c.Fetch(short); err == nil {
		e.t.Errorf("after the stage stopped its group still gets %q (partition %d offset %d): not everything was committed", m.Value, m.Partition, m.Offset)
	}
}
