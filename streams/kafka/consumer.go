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

// consumer is one group member: its own franz-go client, so that each member joins, heartbeats
// and is assigned partitions on its own.
type consumer struct {
	t                      *Transport
	cl                     *kgo.Client
	sess                   *kgo.GroupTransactSession // exactly-once consumers only
	topic, group, instance string

	joined   chan struct{}
	joinOnce sync.Once

	mu     sync.Mutex
	closed bool
	owned  map[int32]bool
	hwm    map[int32]int64 // per owned partition: the end the last fetch saw
	next   map[int32]int64 // per owned partition: the offset after the last fetched record

	buf []streams.Message // fetched, not yet handed out (touched by the fetching goroutine only)
}

var (
	_ streams.LagReporter    = (*consumer)(nil)
	_ streams.BatchFetcher   = (*consumer)(nil)
	_ streams.PartitionOwner = (*consumer)(nil)
	_ streams.GroupWatcher   = (*consumer)(nil)
)

// assigned and revoked are franz-go's group callbacks (they run on its group goroutine).
func (c *consumer) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	c.mu.Lock()
	for _, p := range parts[c.topic] {
		c.owned[p] = true
	}
	c.mu.Unlock()
	c.joinOnce.Do(func() { close(c.joined) })
}

func (c *consumer) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	c.mu.Lock()
	for _, p := range parts[c.topic] {
		delete(c.owned, p)
		delete(c.hwm, p)
		delete(c.next, p)
	}
	c.mu.Unlock()
}

// Owns reports whether partition is assigned to this member now.
func (c *consumer) Owns(topic string, partition int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return topic == c.topic && c.owned[int32(partition)] && !c.closed
}

// poll fetches up to max records into c.buf, blocking until there is at least one.
func (c *consumer) poll(ctx context.Context, max int) error {
	for len(c.buf) == 0 {
		var fs kgo.Fetches
		if c.sess != nil {
			fs = c.sess.PollRecords(ctx, max)
		} else {
			fs = c.cl.PollRecords(ctx, max)
		}
		if fs.IsClientClosed() {
			return streams.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			switch {
			case errors.Is(fe.Err, kgo.ErrClientClosed):
				return streams.ErrClosed
			case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
				if ctx.Err() != nil {
					return ctx.Err()
				}
			default:
				// franz-go retries what can be retried and resets out-of-range offsets itself;
				// what reaches us is worth a note, not the end of the stage.
				c.t.log.Warn("kafka: fetch error", "topic", fe.Topic, "partition", fe.Partition, "group", c.group, "err", fe.Err)
			}
		}
		c.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Topic != c.topic {
				return
			}
			c.hwm[p.Partition] = p.LastStableOffset // read_committed: the end a consumer can reach
			if n := len(p.Records); n > 0 {
				c.next[p.Partition] = p.Records[n-1].Offset + 1
			}
			for _, r := range p.Records {
				c.buf = append(c.buf, streams.Message{
					Topic: r.Topic, Partition: int(r.Partition), Offset: r.Offset,
					Key: r.Key, Value: r.Value, Headers: fromHeaders(r.Headers),
				})
			}
		})
		c.mu.Unlock()
	}
	return nil
}

// Fetch returns the next message of the assigned partitions.
func (c *consumer) Fetch(ctx context.Context) (streams.Message, error) {
	ms, err := c.FetchBatch(ctx, 1)
	if err != nil {
		return streams.Message{}, err
	}
	return ms[0], nil
}

// FetchBatch returns up to max messages of the assigned partitions.
func (c *consumer) FetchBatch(ctx context.Context, max int) ([]streams.Message, error) {
	if c.isClosed() {
		return nil, streams.ErrClosed
	}
	if err := c.poll(ctx, max); err != nil {
		if errors.Is(err, streams.ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("kafka: fetch %q as group %q: %w", c.topic, c.group, err)
	}
	n := min(max, len(c.buf))
	if max < 1 {
		n = 1
	}
	out := c.buf[:n:n]
	c.buf = c.buf[n:]
	if len(c.buf) == 0 {
		c.buf = nil
	}
	return out, nil
}

func (c *consumer) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Commit synchronously commits offset+1 for each message's partition. Kafka accepts it from
// any member of the current generation; the runner commits only partitions it still owns.
func (c *consumer) Commit(ctx context.Context, msgs ...streams.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if c.isClosed() {
		return streams.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, c.t.cfg.CommitTimeout)
	defer cancel()
	offs := map[string]map[int32]kgo.EpochOffset{c.topic: {}}
	for _, m := range msgs {
		if m.Topic != c.topic {
			return fmt.Errorf("kafka: commit: message of topic %q on a consumer of %q", m.Topic, c.topic)
		}
		offs[c.topic][int32(m.Partition)] = kgo.EpochOffset{Epoch: -1, Offset: m.Offset + 1}
	}
	var cerr error
	c.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = fmt.Errorf("partition %d: %w", p.Partition, err)
				}
			}
		}
	})
	if cerr != nil {
		if errors.Is(cerr, kgo.ErrClientClosed) {
			return streams.ErrClosed
		}
		return fmt.Errorf("kafka: commit %d offset(s) of %q for group %q: %w", len(msgs), c.topic, c.group, cerr)
	}
	return nil
}

// Close leaves the group (uncommitted messages go to the next owner). A static member leaves
// explicitly too, so that its partitions move at once rather than after the session timeout.
func (c *consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.t.mu.Lock()
	delete(c.t.consumers, c)
	c.t.mu.Unlock()
	memberID, _ := c.cl.GroupMetadata()
	if c.sess != nil {
		c.sess.Close() // an open transaction is aborted when the next holder of its id registers
	} else {
		c.cl.Close()
	}
	if c.instance == "" || memberID == "" {
		return nil
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = c.group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID, m.InstanceID = memberID, &c.instance
	req.Members = append(req.Members, m)
	ctx, cancel := context.WithTimeout(context.Background(), c.t.cfg.CommitTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, c.t.prod)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
		for _, m := range resp.Members {
			if e := kerr.ErrorForCode(m.ErrorCode); e != nil && err == nil && !errors.Is(e, kerr.UnknownMemberID) {
				err = e
			}
		}
	}
	if err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		return fmt.Errorf("kafka: leaving group %q as %s: %w", c.group, c.instance, err)
	}
	return nil
}

// Lag is how far the owned partitions' ends (as of the last fetch) are ahead of what was
// fetched.
func (c *consumer) Lag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lag int64
	for p, end := range c.hwm {
		if next, ok := c.next[p]; ok && end > next {
			lag += end - next
		}
	}
	return lag
}

// GroupOffsets asks the cluster for the group's committed offsets and the partitions' ends
// (last stable offsets) on every partition of the topic.
func (c *consumer) GroupOffsets(ctx context.Context) (committed, end map[int]int64, err error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(c.topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := c.t.prod.RequestCachedMetadata(ctx, meta, 5*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: metadata of %q: %w", c.topic, err)
	}
	var parts []int32
	for _, t := range mresp.Topics {
		if t.Topic != nil && *t.Topic == c.topic {
			for _, p := range t.Partitions {
				parts = append(parts, p.Partition)
			}
		}
	}
	if len(parts) == 0 {
		return nil, nil, fmt.Errorf("kafka: topic %q has no partitions in the metadata", c.topic)
	}

	of := kmsg.NewPtrOffsetFetchRequest()
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = c.group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = c.topic, parts
	g.Topics = append(g.Topics, gt)
	of.Groups = append(of.Groups, g)
	ofresp, err := of.RequestWith(ctx, c.t.prod)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: committed offsets of group %q: %w", c.group, err)
	}
	committed = map[int]int64{}
	for _, rg := range ofresp.Groups {
		if err := kerr.ErrorForCode(rg.ErrorCode); err != nil {
			return nil, nil, fmt.Errorf("kafka: committed offsets of group %q: %w", c.group, err)
		}
		for _, t := range rg.Topics {
			for _, p := range t.Partitions {
				committed[int(p.Partition)] = max(p.Offset, 0)
			}
		}
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.IsolationLevel = 1 // read_committed: the last stable offset
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = c.topic
	for _, p := range parts {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	loresp, err := lo.RequestWith(ctx, c.t.prod)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: end offsets of %q: %w", c.topic, err)
	}
	end = map[int]int64{}
	for _, t := range loresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, nil, fmt.Errorf("kafka: end offset of %s/%d: %w", c.topic, p.Partition, err)
			}
			end[int(p.Partition)] = p.Offset
		}
	}
	return committed, end, nil
}

// txnConsumer is an exactly-once consumer: outputs are produced in the open transaction, which
// CommitTxn ends together with the offsets of everything fetched.
type txnConsumer struct {
	*consumer
}

var _ streams.Transactor = (*txnConsumer)(nil)

// PublishAsync produces msgs in the current transaction; done reports their acknowledgement.
func (c *txnConsumer) PublishAsync(ctx context.Context, msgs []streams.Message, done func(error)) {
	recs, err := records("", msgs)
	if err != nil || len(recs) == 0 {
		done(err)
		return
	}
	var (
		mu    sync.Mutex
		left  = len(recs)
		first error
	)
	for _, r := range recs {
		c.sess.Produce(ctx, r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = publishErr(1, r.Topic, err)
			}
			if left--; left == 0 {
				done(first)
			}
		})
	}
}

// Commit is not used by exactly-once stages: their offsets commit with the transaction.
func (c *txnConsumer) Commit(context.Context, ...streams.Message) error {
	return errors.New("kafka: an exactly-once consumer commits with CommitTxn")
}

// CommitTxn ends the transaction: its records and the offsets after every fetched record
// commit together, unless the group rebalanced since it began (then it aborts, and the client
// fetches from the committed offsets again). A new transaction begins either way.
func (c *txnConsumer) CommitTxn(ctx context.Context) (bool, error) {
	committed, err := c.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("kafka: ending the transaction of group %q: %w", c.group, err)
	}
	if err := c.sess.Begin(); err != nil {
		return committed, fmt.Errorf("kafka: beginning a transaction for group %q: %w", c.group, err)
	}
	return committed, nil
}

// AbortTxn ends the transaction without committing; the client fetches from the committed
// offsets again.
func (c *txnConsumer) AbortTxn(ctx context.Context) error {
	if _, err := c.sess.End(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("kafka: aborting the transaction of group %q: %w", c.group, err)
	}
	return nil
}
