package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/lsrflow/lsrflow/streams"
)

// ErrNotAssigned is returned by Commit for a message whose partition is not (any more)
// assigned to the committing member; the message will be redelivered to its new owner.
var ErrNotAssigned = errors.New("memory: partition not assigned to this consumer")

// Option configures a Transport.
type Option func(*Transport)

// WithDefaultPartitions sets the partition count of topics created implicitly by Publish or
// Subscribe (default 3). Values below 1 are ignored.
func WithDefaultPartitions(n int) Option {
	return func(t *Transport) {
		if n >= 1 {
			t.defaultPartitions = n
		}
	}
}

// WithTrimCommitted frees, chunk by chunk, the messages of a partition that every group
// subscribed to its topic has committed, the way Kafka's retention moves a log's start
// offset: memory then stays bounded by what is not yet consumed, and it is reused instead of
// grown. Offsets do not change; a group that subscribes later starts at the first retained
// offset, and Messages returns only what is retained. Topics no group consumes keep everything.
// Use it when every group subscribes before messages it must see are committed by others.
func WithTrimCommitted() Option { return func(t *Transport) { t.trim = true } }

// Transport is the in-process transport. The zero value is not usable; call New.
type Transport struct {
	defaultPartitions int
	trim              bool

	mu      sync.Mutex
	closed  bool
	topics  map[string]*topic
	groups  map[groupKey]*group
	changed chan struct{} // closed and replaced whenever data or assignments change
	nextID  int
}

type topic struct {
	name       string
	partitions []*partLog
}

// partLog is one partition: messages in fixed-size chunks (appending never copies the log)
// with their key and value bytes packed into large slabs (few allocations, nothing for the
// garbage collector to scan).
type partLog struct {
	chunks [][]streams.Message // chunks[0] holds offsets from base on
	base   int64               // offset of chunks[0][0]: the log start, a multiple of chunkLen
	n      int64
	slab   []byte
}

const (
	chunkLen = 4096
	slabSize = 1 << 20
)

func (l *partLog) len() int64 { return l.n }

// start is the first retained offset.
func (l *partLog) start() int64 { return l.base }

// trim drops the whole chunks below offset upto.
func (l *partLog) trim(upto int64) {
	for len(l.chunks) > 1 && l.base+chunkLen <= upto {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.base += chunkLen
	}
}

// store copies b into the current slab and returns the copy (capacity capped to its length,
// so that an append by a reader cannot reach the next message's bytes).
func (l *partLog) store(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(l.slab)+len(b) > cap(l.slab) {
		l.slab = make([]byte, 0, max(slabSize, len(b)))
	}
	start := len(l.slab)
	l.slab = append(l.slab, b...)
	return l.slab[start:len(l.slab):len(l.slab)]
}

func (l *partLog) append(m streams.Message) {
	if l.n%chunkLen == 0 {
		l.chunks = append(l.chunks, make([]streams.Message, 0, chunkLen))
	}
	c := &l.chunks[len(l.chunks)-1]
	m.Key, m.Value, m.Headers = l.store(m.Key), l.store(m.Value), maps.Clone(m.Headers)
	*c = append(*c, m)
	l.n++
}

// appendRange appends messages [from, to) to dst.
func (l *partLog) appendRange(dst []streams.Message, from, to int64) []streams.Message {
	from = max(from, l.base)
	for from < to {
		c := l.chunks[(from-l.base)/chunkLen]
		i := from % chunkLen
		n := min(to-from, int64(len(c))-i)
		dst = append(dst, c[i:i+n]...)
		from += n
	}
	return dst
}

type groupKey struct{ group, topic string }

type group struct {
	committed []int64     // per partition: the next offset to consume
	members   []*consumer // in join order; partition p belongs to members[p%len(members)]
}

var (
	_ streams.Transport   = (*Transport)(nil)
	_ streams.TopicReader = (*Transport)(nil)
)

// New returns an empty transport.
func New(opts ...Option) *Transport {
	t := &Transport{
		defaultPartitions: 3,
		topics:            map[string]*topic{},
		groups:            map[groupKey]*group{},
		changed:           make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// notifyLocked wakes every blocked Fetch. Callers hold t.mu.
func (t *Transport) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *Transport) topicLocked(name string, partitions int) *topic {
	tp, ok := t.topics[name]
	if !ok {
		tp = &topic{name: name, partitions: make([]*partLog, partitions)}
		for i := range tp.partitions {
			tp.partitions[i] = &partLog{}
		}
		t.topics[name] = tp
	}
	return tp
}

// EnsureTopics creates the topics that do not exist yet; existing ones keep their partitions.
func (t *Transport) EnsureTopics(ctx context.Context, specs ...streams.TopicSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, s := range specs {
		if s.Name == "" {
			return errors.New("memory: ensure topics: empty topic name")
		}
		if s.Partitions < 0 {
			return fmt.Errorf("memory: ensure topic %q: negative partition count %d", s.Name, s.Partitions)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return streams.ErrClosed
	}
	for _, s := range specs {
		n := s.Partitions
		if n == 0 {
			n = t.defaultPartitions
		}
		t.topicLocked(s.Name, n)
	}
	return nil
}

// Publish appends msgs to their partitions. When topic is empty each message's own Topic is
// used. It returns once every message is stored.
func (t *Transport) Publish(ctx context.Context, topicName string, msgs ...streams.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range msgs {
		if topicName == "" && msgs[i].Topic == "" {
			return fmt.Errorf("memory: publish: message %d has no topic", i)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return streams.ErrClosed
	}
	for _, m := range msgs {
		name := topicName
		if name == "" {
			name = m.Topic
		}
		tp := t.topicLocked(name, t.defaultPartitions)
		p := streams.PartitionFor(m.Key, len(tp.partitions))
		log := tp.partitions[p]
		log.append(streams.Message{Topic: name, Partition: p, Offset: log.len(), Key: m.Key, Value: m.Value, Headers: m.Headers})
	}
	if len(msgs) > 0 {
		t.notifyLocked()
	}
	return nil
}

// Subscribe joins group on topic (creating the topic if needed) and rebalances the group.
func (t *Transport) Subscribe(ctx context.Context, topicName, groupName string) (streams.Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if topicName == "" || groupName == "" {
		return nil, fmt.Errorf("memory: subscribe: topic %q and group %q must be non-empty", topicName, groupName)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, streams.ErrClosed
	}
	tp := t.topicLocked(topicName, t.defaultPartitions)
	k := groupKey{groupName, topicName}
	g, ok := t.groups[k]
	if !ok {
		g = &group{committed: make([]int64, len(tp.partitions))}
		t.groups[k] = g
	}
	t.nextID++
	c := &consumer{t: t, topic: tp, group: g, key: k, id: t.nextID, pos: map[int]int64{}}
	g.members = append(g.members, c)
	t.rebalanceLocked(g)
	return c, nil
}

// rebalanceLocked recomputes every member's partitions. A member keeps its fetch position on a
// partition it already owned; a partition it gains starts at the committed offset.
func (t *Transport) rebalanceLocked(g *group) {
	n := len(g.committed)
	for i, c := range g.members {
		pos := map[int]int64{}
		var assigned []int
		for p := i; p < n; p += len(g.members) {
			assigned = append(assigned, p)
			if old, ok := c.pos[p]; ok {
				pos[p] = old
			} else {
				pos[p] = g.committed[p]
			}
		}
		c.pos, c.assigned = pos, assigned
	}
	t.notifyLocked()
}

// Close closes every consumer and makes further calls fail with streams.ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	for _, g := range t.groups {
		for _, c := range g.members {
			c.closed = true
		}
		g.members = nil
	}
	t.notifyLocked()
	return nil
}

// consumer is one member of a group. Its fields are guarded by t.mu.
type consumer struct {
	t        *Transport
	topic    *topic
	group    *group
	key      groupKey
	id       int
	closed   bool
	assigned []int
	pos      map[int]int64 // next offset to fetch per assigned partition
	next     int           // round-robin cursor into assigned
}

var (
	_ streams.LagReporter    = (*consumer)(nil)
	_ streams.BatchFetcher   = (*consumer)(nil)
	_ streams.PartitionOwner = (*consumer)(nil)
	_ streams.GroupWatcher   = (*consumer)(nil)
)

// Fetch returns the next message of an assigned partition, blocking until there is one.
func (c *consumer) Fetch(ctx context.Context) (streams.Message, error) {
	ms, err := c.FetchBatch(ctx, 1)
	if err != nil {
		return streams.Message{}, err
	}
	return ms[0], nil
}

// FetchBatch returns up to max messages of the assigned partitions, blocking until there is
// at least one. It takes from the partitions in turn, so a busy partition does not starve
// the others.
func (c *consumer) FetchBatch(ctx context.Context, limit int) ([]streams.Message, error) {
	limit = max(limit, 1)
	t := c.t
	for {
		t.mu.Lock()
		if c.closed {
			t.mu.Unlock()
			return nil, streams.ErrClosed
		}
		var out []streams.Message
		for len(out) < limit {
			took := false
			for i := range c.assigned {
				if len(out) == limit {
					break
				}
				j := (c.next + i) % len(c.assigned)
				p := c.assigned[j]
				log := c.topic.partitions[p]
				off := max(c.pos[p], log.start())
				if off >= log.len() {
					continue
				}
				// A fair share of the batch per partition per round.
				n := min(log.len()-off, int64(limit-len(out)), int64(limit/len(c.assigned)+1))
				out = log.appendRange(out, off, off+n)
				c.pos[p] = off + n
				took = true
			}
			if !took {
				break
			}
			c.next = (c.next + 1) % len(c.assigned)
		}
		if len(out) > 0 {
			t.mu.Unlock()
			// Key and Value are shared with the log (stored messages are never modified and
			// consumers treat them as read-only); only the mutable map is copied.
			for i := range out {
				if out[i].Headers != nil {
					out[i].Headers = maps.Clone(out[i].Headers)
				}
			}
			return out, nil
		}
		wait := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// Owns reports whether partition of topic is assigned to this member.
func (c *consumer) Owns(topic string, partition int) bool {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	_, ok := c.pos[partition]
	return ok && topic == c.key.topic && !c.closed
}

// GroupOffsets returns the group's committed offsets and the end of every partition.
func (c *consumer) GroupOffsets(ctx context.Context) (committed, end map[int]int64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	committed, end = map[int]int64{}, map[int]int64{}
	for p, log := range c.topic.partitions {
		committed[p], end[p] = c.group.committed[p], log.len()
	}
	return committed, end, nil
}

// Commit moves the group's committed offset of each message's partition to offset+1.
func (c *consumer) Commit(ctx context.Context, msgs ...streams.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return streams.ErrClosed
	}
	for _, m := range msgs {
		if m.Topic != c.key.topic {
			return fmt.Errorf("memory: commit: message of topic %q on a consumer of %q", m.Topic, c.key.topic)
		}
		if _, ok := c.pos[m.Partition]; !ok {
			return fmt.Errorf("memory: commit %s/%d@%d for group %q: %w", m.Topic, m.Partition, m.Offset, c.key.group, ErrNotAssigned)
		}
		if m.Offset < 0 || m.Offset >= c.topic.partitions[m.Partition].len() {
			return fmt.Errorf("memory: commit %s/%d@%d: no such offset", m.Topic, m.Partition, m.Offset)
		}
	}
	for _, m := range msgs {
		if next := m.Offset + 1; next > c.group.committed[m.Partition] {
			c.group.committed[m.Partition] = next
			if t.trim {
				t.trimLocked(c.key.topic, m.Partition)
			}
		}
	}
	return nil
}

// trimLocked frees what every group of topic has committed on partition p.
func (t *Transport) trimLocked(topic string, p int) {
	upto := int64(-1)
	for k, g := range t.groups {
		if k.topic == topic {
			if upto < 0 || g.committed[p] < upto {
				upto = g.committed[p]
			}
		}
	}
	if upto > 0 {
		t.topics[topic].partitions[p].trim(upto)
	}
}

// Close leaves the group; its partitions move to the remaining members.
func (c *consumer) Close() error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	g := c.group
	for i, m := range g.members {
		if m == c {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			break
		}
	}
	c.assigned, c.pos = nil, map[int]int64{}
	t.rebalanceLocked(g)
	return nil
}

// Lag returns how many messages on the assigned partitions are not fetched yet.
func (c *consumer) Lag() int64 {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	var lag int64
	for p, off := range c.pos {
		log := c.topic.partitions[p]
		lag += log.len() - max(off, log.start())
	}
	return lag
}

// ReadTopic calls fn for every message retained on topic (streams.TopicReader).
func (t *Transport) ReadTopic(ctx context.Context, topicName string, fn func(streams.Message) error) error {
	t.mu.Lock()
	tp, ok := t.topics[topicName]
	var msgs []streams.Message
	if ok {
		for _, log := range tp.partitions {
			msgs = log.appendRange(msgs, log.start(), log.len())
		}
	}
	t.mu.Unlock()
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.Headers != nil {
			m.Headers = maps.Clone(m.Headers)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// Committed returns group's committed offsets (next offset to consume) per partition of
// topic, or nil when the group has never subscribed to it. Meant for tests and tooling.
func (t *Transport) Committed(topicName, groupName string) []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.groups[groupKey{groupName, topicName}]
	if !ok {
		return nil
	}
	return append([]int64(nil), g.committed...)
}

// Messages returns a copy of every message stored on topic, partition by partition in offset
// order, without consuming anything. Meant for tests and tooling; nil for an unknown topic.
func (t *Transport) Messages(topicName string) []streams.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp, ok := t.topics[topicName]
	if !ok {
		return nil
	}
	var out []streams.Message
	for _, log := range tp.partitions {
		out = log.appendRange(out, log.start(), log.len())
	}
	for i := range out {
		m := &out[i]
		m.Key, m.Value, m.Headers = bytes.Clone(m.Key), bytes.Clone(m.Value), maps.Clone(m.Headers)
	}
	return out
}
