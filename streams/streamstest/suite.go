package streamstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// waitFor bounds every wait of the suite; generous because a Kafka group join takes a while.
const waitFor = 30 * time.Second

// partitions is the partition count of every topic the suite creates.
const partitions = 3

var seq atomic.Int64

// names returns a topic and a group name unique to this run of the suite.
func names(t *testing.T) (topic, group string) {
	n := seq.Add(1)
	return fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e6, n), fmt.Sprintf("g%d-%d", time.Now().UnixNano()%1e6, n)
}

type env struct {
	t  *testing.T
	tr streams.Transport
}

func (e env) ctx() context.Context { return e.t.Context() }

// topic creates a fresh topic with n partitions and returns its name.
func (e env) topic(n int) string {
	e.t.Helper()
	name, _ := names(e.t)
	if err := e.tr.EnsureTopics(e.ctx(), streams.TopicSpec{Name: name, Partitions: n, ReplicationFactor: 1}); err != nil {
		e.t.Fatalf("EnsureTopics(%s): %v", name, err)
	}
	return name
}

func (e env) subscribe(topic, group string) streams.Consumer {
	e.t.Helper()
	c, err := e.tr.Subscribe(e.ctx(), topic, group)
	if err != nil {
		e.t.Fatalf("Subscribe(%s, %s): %v", topic, group, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e env) publish(topic string, msgs ...streams.Message) {
	e.t.Helper()
	if err := e.tr.Publish(e.ctx(), topic, msgs...); err != nil {
		e.t.Fatalf("Publish(%s): %v", topic, err)
	}
}

// fetch returns the next message or fails the test after waitFor.
func (e env) fetch(c streams.Consumer) streams.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx(), waitFor)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err != nil {
		e.t.Fatalf("Fetch: %v", err)
	}
	return m
}

func (e env) commit(c streams.Consumer, msgs ...streams.Message) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx(), waitFor)
	defer cancel()
	if err := c.Commit(ctx, msgs...); err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
}

// keyed makes n messages over k keys: key "k<i%k>", value "v<i>".
func keyed(n, k int) []streams.Message {
	msgs := make([]streams.Message, n)
	for i := range msgs {
		msgs[i] = streams.Message{Key: fmt.Appendf(nil, "k%d", i%k), Value: fmt.Appendf(nil, "v%d", i)}
	}
	return msgs
}

func values(msgs []streams.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// checkPlacement fails when a consumed message is not on the partition PartitionFor picks.
func checkPlacement(t *testing.T, topic string, msgs []streams.Message) {
	t.Helper()
	for _, m := range msgs {
		if m.Topic != topic {
			t.Errorf("message %q: topic %q, want %q", m.Value, m.Topic, topic)
		}
		if want := streams.PartitionFor(m.Key, partitions); m.Partition != want {
			t.Errorf("key %q on partition %d, PartitionFor says %d", m.Key, m.Partition, want)
		}
	}
}

// Run runs the transport contract suite. newTransport returns a ready transport; Run closes it.
func Run(t *testing.T, newTransport func(t *testing.T) streams.Transport) {
	tests := []struct {
		name string
		fn   func(e env)
	}{
		{"RoundTrip", testRoundTrip},
		{"PerKeyOrderAndPlacement", testPerKeyOrder},
		{"CommitResumesAndRedelivers", testCommitResume},
		{"GroupMembersSplitPartitions", testGroupSplit},
		{"LeavingMemberHandsOver", testHandover},
		{"GroupsAreIndependent", testTwoGroups},
		{"FetchHonoursContext", testFetchContext},
		{"EnsureTopicsIdempotent", testEnsureIdempotent},
		{"ConsumableWhenPublishReturns", testConsumableAtOnce},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"CloseUnblocksFetch", testCloseUnblocksFetch},
		{"FetchBatch", testFetchBatch},
		{"PublishAsync", testPublishAsync},
		{"OwnersCoverPartitions", testOwners},
		{"GroupOffsets", testGroupOffsets},
		{"ReadTopic", testReadTopic},
		{"RunnerKeepsKeyOrderAndCommitsAll", testRunnerPipeline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t)
			t.Cleanup(func() {
				if err := tr.Close(); err != nil {
					t.Errorf("transport Close: %v", err)
				}
			})
			tc.fn(env{t: t, tr: tr})
		})
	}
}

func testRoundTrip(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	want := streams.Message{
		Key:     []byte("q-17"),
		Value:   []byte(`{"id":"q-17","question":"who wrote \"Ulysses\"?"}` + "\x00\xff"),
		Headers: map[string]string{"schema": "query/v1", "trace": "abc", "empty": ""},
	}
	e.publish(topic, want)
	e.publish(topic, streams.Message{Value: []byte("no key, no headers")})
	c := e.subscribe(topic, group)
	got := []streams.Message{e.fetch(c), e.fetch(c)}
	slices.SortFunc(got, func(a, b streams.Message) int { return len(b.Key) - len(a.Key) })
	g := got[0]
	if string(g.Key) != string(want.Key) || string(g.Value) != string(want.Value) || !maps.Equal(g.Headers, want.Headers) {
		e.t.Errorf("round trip: got key %q value %q headers %v, want %q %q %v", g.Key, g.Value, g.Headers, want.Key, want.Value, want.Headers)
	}
	if g.Topic != topic || g.Offset != 0 {
		e.t.Errorf("first message: topic %q offset %d, want %q 0", g.Topic, g.Offset, topic)
	}
	checkPlacement(e.t, topic, got)
	if len(got[1].Key) != 0 || string(got[1].Value) != "no key, no headers" || len(got[1].Headers) != 0 {
		e.t.Errorf("keyless message: got key %q value %q headers %v", got[1].Key, got[1].Value, got[1].Headers)
	}
}

func testPerKeyOrder(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	const n, keys = 120, 7
	msgs := keyed(n, keys)
	// Publish in several calls so ordering must hold across calls too.
	for i := 0; i < n; i += 25 {
		e.publish(topic, msgs[i:min(i+25, n)]...)
	}
	c := e.subscribe(topic, group)
	got := make([]streams.Message, n)
	for i := range got {
		got[i] = e.fetch(c)
	}
	checkPlacement(e.t, topic, got)
	perKey := map[string][]string{}
	for _, m := range got {
		perKey[string(m.Key)] = append(perKey[string(m.Key)], string(m.Value))
	}
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		var want []string
		for i := k; i < n; i += keys {
			want = append(want, fmt.Sprintf("v%d", i))
		}
		if !slices.Equal(perKey[key], want) {
			e.t.Errorf("key %s: got %v, want %v", key, perKey[key], want)
		}
	}
	offsets := map[int]int64{}
	for _, m := range got {
		if last, ok := offsets[m.Partition]; ok && m.Offset <= last {
			e.t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, last)
		}
		offsets[m.Partition] = m.Offset
	}
}

func testCommitResume(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	const n = 60
	e.publish(topic, keyed(n, 10)...)
	c := e.subscribe(topic, group)
	var committed, rest []string
	for range n {
		m := e.fetch(c)
		// Commit the first three offsets of each partition, in order; keep the rest uncommitted.
		if m.Offset < 3 {
			e.commit(c, m)
			committed = append(committed, string(m.Value))
		} else {
			rest = append(rest, string(m.Value))
		}
	}
	if err := c.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	c2 := e.subscribe(topic, group)
	var again []string
	for range rest {
		m := e.fetch(c2)
		if m.Offset < 3 {
			e.t.Errorf("committed message %q (partition %d offset %d) delivered again", m.Value, m.Partition, m.Offset)
		}
		again = append(again, string(m.Value))
		e.commit(c2, m)
	}
	slices.Sort(rest)
	slices.Sort(again)
	if !slices.Equal(again, rest) {
		e.t.Errorf("after re-subscribe got %v, want the uncommitted %v", again, rest)
	}
	if len(committed) == 0 {
		e.t.Errorf("test setup: nothing committed")
	}
	// Everything is committed now: a new member sees only new messages.
	e.commitAllAndCheckEmpty(c2, topic, group)
}

// commitAllAndCheckEmpty publishes a marker, commits it from c (plus everything before it on its
// partition), closes c and checks a new member gets nothing it should not.
func (e env) commitAllAndCheckEmpty(c streams.Consumer, topic, group string) {
	e.t.Helper()
	marker := streams.Message{Key: []byte("marker"), Value: []byte("marker")}
	e.publish(topic, marker)
	m := e.fetch(c)
	if string(m.Value) != "marker" {
		e.t.Fatalf("expected the marker, got %q", m.Value)
	}
	e.commit(c, m)
	if err := c.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	c3 := e.subscribe(topic, group)
	e.publish(topic, streams.Message{Key: []byte("marker"), Value: []byte("after")})
	if m := e.fetch(c3); string(m.Value) != "after" {
		e.t.Errorf("after committing everything a new member got %q (partition %d offset %d), want only new messages", m.Value, m.Partition, m.Offset)
	}
}

// drain fetches from cs concurrently (committing each message) until total distinct messages
// arrived. Redeliveries are returned too (a commit can fail while a group rebalances) but do
// not count towards total.
func (e env) drain(total int, cs ...streams.Consumer) [][]streams.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx(), waitFor)
	defer cancel()
	var (
		mu    sync.Mutex
		count int
		seen  = map[[2]int64]bool{}
		got   = make([][]streams.Message, len(cs))
		wg    sync.WaitGroup
	)
	for i, c := range cs {
		wg.Go(func() {
			for {
				m, err := c.Fetch(ctx)
				if err != nil {
					return
				}
				if err := c.Commit(ctx, m); err != nil && ctx.Err() == nil {
					e.t.Logf("member %d: commit %d/%d: %v", i, m.Partition, m.Offset, err)
				}
				mu.Lock()
				got[i] = append(got[i], m)
				if id := [2]int64{int64(m.Partition), m.Offset}; !seen[id] {
					seen[id] = true
					count++
				}
				if count >= total {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if count < total {
		e.t.Fatalf("got %d of %d messages within %v", count, total, waitFor)
	}
	return got
}

func testGroupSplit(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	a := e.subscribe(topic, group)
	b := e.subscribe(topic, group)
	const n = 90
	e.publish(topic, keyed(n, 30)...)
	got := e.drain(n, a, b)
	seen := map[string]int{}
	owner := map[int]int{}
	for i, ms := range got {
		checkPlacement(e.t, topic, ms)
		for _, m := range ms {
			seen[string(m.Value)]++
			if o, ok := owner[m.Partition]; ok && o != i {
				e.t.Errorf("partition %d consumed by both members", m.Partition)
			}
			owner[m.Partition] = i
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("v%d", i)]; c != 1 {
			e.t.Errorf("message v%d seen %d times, want exactly once", i, c)
		}
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		e.t.Errorf("partitions not split: member a got %d, member b got %d", len(got[0]), len(got[1]))
	}
}

func testHandover(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	a := e.subscribe(topic, group)
	b := e.subscribe(topic, group)
	const n = 90
	e.publish(topic, keyed(n, 30)...)
	// b processes a few messages, commits them and leaves; a must get everything else.
	bCommitted := map[string]bool{}
	for range 3 {
		m := e.fetch(b)
		e.commit(b, m)
		bCommitted[string(m.Value)] = true
	}
	if err := b.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	got := e.drain(n-len(bCommitted), a)[0]
	seen := map[string]bool{}
	for _, m := range got {
		if bCommitted[string(m.Value)] {
			e.t.Errorf("message %q committed by the leaving member was redelivered", m.Value)
		}
		seen[string(m.Value)] = true
	}
	for i := range n {
		v := fmt.Sprintf("v%d", i)
		if !seen[v] && !bCommitted[v] {
			e.t.Errorf("message %s lost in the handover", v)
		}
	}
}

func testTwoGroups(e env) {
	topic := e.topic(partitions)
	_, g1 := names(e.t)
	_, g2 := names(e.t)
	const n = 40
	e.publish(topic, keyed(n, 9)...)
	for _, g := range []string{g1, g2} {
		c := e.subscribe(topic, g)
		got := values(e.drain(n, c)[0])
		slices.Sort(got)
		want := values(keyed(n, 9))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			e.t.Errorf("group %s got %v, want %v", g, got, want)
		}
	}
}

func testFetchContext(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	c := e.subscribe(topic, group)
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(e.ctx(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(e.ctx())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tc := range cases {
		ctx, cancel := tc.ctx()
		start := time.Now()
		_, err := c.Fetch(ctx)
		cancel()
		if !errors.Is(err, tc.want) {
			e.t.Errorf("%s: Fetch on an empty topic returned %v, want %v", tc.name, err, tc.want)
		}
		if d := time.Since(start); d > 3*time.Second {
			e.t.Errorf("%s: Fetch took %v to notice its context", tc.name, d)
		}
	}
	// The consumer still works after a cancelled Fetch.
	e.publish(topic, streams.Message{Key: []byte("x"), Value: []byte("after-cancel")})
	if m := e.fetch(c); string(m.Value) != "after-cancel" {
		e.t.Errorf("after cancelled Fetch got %q", m.Value)
	}
}

func testEnsureIdempotent(e env) {
	name, group := names(e.t)
	spec := streams.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: 1}
	for i := range 2 {
		if err := e.tr.EnsureTopics(e.ctx(), spec); err != nil {
			e.t.Fatalf("EnsureTopics call %d: %v", i+1, err)
		}
	}
	// A different spec for an existing topic leaves it as it is: keys still hash over 3.
	bigger := spec
	bigger.Partitions = 7
	other, _ := names(e.t)
	if err := e.tr.EnsureTopics(e.ctx(), bigger, streams.TopicSpec{Name: other, Partitions: 1, ReplicationFactor: 1, Compacted: true}); err != nil {
		e.t.Fatalf("EnsureTopics with an existing topic: %v", err)
	}
	e.publish(name, keyed(30, 30)...)
	got := e.drain(30, e.subscribe(name, group))[0]
	checkPlacement(e.t, name, got)
}

func testConsumableAtOnce(e env) {
	topic := e.topic(1)
	_, group := names(e.t)
	c := e.subscribe(topic, group)
	for i := range 5 {
		v := fmt.Sprintf("m%d", i)
		e.publish(topic, streams.Message{Key: []byte("k"), Value: []byte(v)})
		if m := e.fetch(c); string(m.Value) != v {
			e.t.Fatalf("published %s, fetched %q", v, m.Value)
		}
	}
	// A group that joins later also sees them, from the beginning.
	_, late := names(e.t)
	got := values(e.drain(5, e.subscribe(topic, late))[0])
	if want := []string{"m0", "m1", "m2", "m3", "m4"}; !slices.Equal(got, want) {
		e.t.Errorf("late group got %v, want %v", got, want)
	}
}

func testConcurrentPublishers(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	const pubs, each = 4, 50
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Go(func() {
			for i := range each {
				m := streams.Message{Key: fmt.Appendf(nil, "pub%d", p), Value: fmt.Appendf(nil, "%d:%d", p, i)}
				if err := e.tr.Publish(e.ctx(), topic, m); err != nil {
					e.t.Errorf("publisher %d: %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := e.drain(pubs*each, e.subscribe(topic, group))[0]
	perKey := map[string][]string{}
	for _, m := range got {
		perKey[string(m.Key)] = append(perKey[string(m.Key)], string(m.Value))
	}
	for p := range pubs {
		var want []string
		for i := range each {
			want = append(want, fmt.Sprintf("%d:%d", p, i))
		}
		if k := fmt.Sprintf("pub%d", p); !slices.Equal(perKey[k], want) {
			e.t.Errorf("publisher %d: got %v, want %v in order", p, perKey[k], want)
		}
	}
}

func testCloseUnblocksFetch(e env) {
	topic := e.topic(partitions)
	_, group := names(e.t)
	c := e.subscribe(topic, group)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Fetch(e.ctx())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Fetch block; a Close before it must fail it too
	if err := c.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, streams.ErrClosed) {
			e.t.Errorf("Fetch after Close returned %v, want streams.ErrClosed", err)
		}
	case <-time.After(waitFor):
		e.t.Fatal("Close did not unblock Fetch")
	}
	if _, err := c.Fetch(e.ctx()); !errors.Is(err, streams.ErrClosed) {
		e.t.Errorf("Fetch on a closed consumer returned %v, want streams.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		e.t.Errorf("second Close: %v", err)
	}
}
