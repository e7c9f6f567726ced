package broker

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Session expiry for classic consumer groups, the way Apache Kafka does it.
//
// Kafka schedules a member's heartbeat expiry for every member when a join completes, whether
// or not the JoinGroup response reached it (GroupMetadataManager.completeClassicGroupJoin calls
// rescheduleClassicGroupMemberHeartbeat for each member; the Scala GroupCoordinator.onCompleteJoin
// did the same through completeAndScheduleNextHeartbeatExpiration). A member whose process died
// while its JoinGroup waited is therefore removed one session timeout later and its partitions
// move. kfake starts that timer only after it wrote the response (groups.go: group.reply calls
// updateHeartbeat only when creq.reply succeeded), so such a member stays in the group for good
// and the partitions the leader gave it are never consumed (issue 17; TestMemberDeadInJoinIsEvicted).
//
// sessionWatch restores Kafka's rule from the outside: it reads the group requests every client
// sends (a passive tap on the broker's connections), remembers when each member was last heard
// from, and removes a member of a Stable classic group that has been silent for longer than its
// session timeout, counted from when the group became Stable at the earliest, with a
// LeaveGroup on its behalf. That is what Kafka's expiry does (remove the member, rebalance).
// Members that heartbeat never reach that point: kfake's own timer and this one agree on them.
type sessionWatch struct {
	log    *slog.Logger
	client *kgo.Client
	period time.Duration

	mu     sync.Mutex
	groups map[string]*groupSessions
}

type groupSessions struct {
	// sessionMs is the longest session timeout any JoinGroup of the group asked for; members
	// whose id is known also have their own.
	sessionMs   int32
	memberMs    map[string]int32
	lastSeen    map[string]time.Time
	stableGen   int32
	stableSince time.Time
	nextGen     bool // the group speaks KIP-848 (ConsumerGroupHeartbeat): kfake times those itself
}

// maxTapped bounds one request the tap decodes; group requests are far smaller.
const maxTapped = 1 << 20

func newSessionWatch(log *slog.Logger) *sessionWatch {
	return &sessionWatch{log: log, period: 200 * time.Millisecond, groups: map[string]*groupSessions{}}
}

func (w *sessionWatch) group(name string) *groupSessions {
	g := w.groups[name]
	if g == nil {
		g = &groupSessions{memberMs: map[string]int32{}, lastSeen: map[string]time.Time{}}
		w.groups[name] = g
	}
	return g
}

// observe records one client request (the body of a size-prefixed request frame).
func (w *sessionWatch) observe(frame []byte) {
	r := kbin.Reader{Src: frame}
	key, version := r.Int16(), r.Int16()
	r.Int32()          // correlation id
	r.NullableString() // client id
	req := kmsg.RequestForKey(key)
	if req == nil || !r.Ok() {
		return
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return // kfake answers malformed requests itself
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch q := req.(type) {
	case *kmsg.JoinGroupRequest:
		g := w.group(q.Group)
		g.sessionMs = max(g.sessionMs, q.SessionTimeoutMillis)
		if q.MemberID != "" {
			g.memberMs[q.MemberID] = q.SessionTimeoutMillis
			g.lastSeen[q.MemberID] = now
		}
	case *kmsg.SyncGroupRequest:
		w.group(q.Group).lastSeen[q.MemberID] = now
	case *kmsg.HeartbeatRequest:
		w.group(q.Group).lastSeen[q.MemberID] = now
	case *kmsg.OffsetCommitRequest:
		if q.MemberID != "" {
			w.group(q.Group).lastSeen[q.MemberID] = now
		}
	case *kmsg.ConsumerGroupHeartbeatRequest:
		w.group(q.Group).nextGen = true
	}
}

// run checks the groups every period until ctx is done.
func (w *sessionWatch) run(ctx context.Context, c *kfake.Cluster) {
	t := time.NewTicker(w.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for group, member := range w.expired(c, time.Now()) {
			w.evict(ctx, group, member)
		}
	}
}

// expired returns the members of Stable classic groups silent past their session timeout.
func (w *sessionWatch) expired(c *kfake.Cluster, now time.Time) map[string]string {
	w.mu.Lock()
	names := make([]string, 0, len(w.groups))
	for name, g := range w.groups {
		if !g.nextGen {
			names = append(names, name)
		}
	}
	w.mu.Unlock()
	out := map[string]string{}
	for _, name := range names {
		info := c.GroupInfo(name) // runs on the cluster loop: never call with w.mu held
		w.mu.Lock()
		g := w.groups[name]
		switch {
		case info == nil:
			delete(w.groups, name)
		case info.State != "Stable":
			g.stableGen = -1
		default:
			if g.stableGen != info.Epoch {
				g.stableGen, g.stableSince = info.Epoch, now
			}
			present := make(map[string]bool, len(info.Members))
			for _, m := range info.Members {
				present[m.MemberID] = true
				ms := g.memberMs[m.MemberID]
				if ms == 0 {
					ms = g.sessionMs
				}
				last := g.lastSeen[m.MemberID]
				if last.Before(g.stableSince) {
					last = g.stableSince
				}
				if ms > 0 && now.Sub(last) > time.Duration(ms)*time.Millisecond {
					out[name] = m.MemberID // one per group and round: the rebalance handles the rest
				}
			}
			for id := range g.lastSeen {
				if !present[id] {
					delete(g.lastSeen, id)
					delete(g.memberMs, id)
				}
			}
		}
		w.mu.Unlock()
	}
	return out
}

func (w *sessionWatch) evict(ctx context.Context, group, member string) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	reason := "session timeout expired (lsrflow broker)"
	m.Reason = &reason
	req.Members = append(req.Members, m)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := w.client.Request(rctx, req)
	w.log.Warn("removed a group member silent past its session timeout", "group", group, "member", member, "err", err)
	w.mu.Lock()
	delete(w.groups[group].lastSeen, member)
	w.mu.Unlock()
}

// tapListener hands every accepted connection's inbound bytes to the watch.
type tapListener struct {
	net.Listener
	w *sessionWatch
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, w: l.w}, nil
}

// tapConn splits the inbound byte stream into request frames. It keeps the frames of group
// requests (at most maxTapped bytes each) and skips everything else without buffering it.
type tapConn struct {
	net.Conn
	w *sessionWatch

	size   [4]byte
	sizeN  int
	remain int // bytes of the current frame not yet seen; 0: reading a size
	keep   bool
	frame  []byte
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.feed(p[:n])
	return n, err
}

func (c *tapConn) feed(p []byte) {
	for len(p) > 0 {
		if c.remain == 0 {
			k := copy(c.size[c.sizeN:], p)
			c.sizeN += k
			p = p[k:]
			if c.sizeN == 4 {
				c.sizeN = 0
				c.remain = int(binary.BigEndian.Uint32(c.size[:]))
				c.keep = c.remain <= maxTapped
				c.frame = c.frame[:0]
			}
			continue
		}
		k := min(len(p), c.remain)
		if c.keep {
			c.frame = append(c.frame, p[:k]...)
			if len(c.frame) >= 2 && len(c.frame)-k < 2 { // the api key just became known
				c.keep = tapped(int16(binary.BigEndian.Uint16(c.frame)))
			}
		}
		c.remain -= k
		p = p[k:]
		if c.remain == 0 && c.keep {
			c.w.observe(c.frame)
		}
	}
}

// tapped lists the request keys that show a group member is alive.
func tapped(key int16) bool {
	switch key {
	case int16(kmsg.JoinGroup), int16(kmsg.SyncGroup), int16(kmsg.Heartbeat), int16(kmsg.OffsetCommit), int16(kmsg.ConsumerGroupHeartbeat):
		return true
	}
	return false
}
