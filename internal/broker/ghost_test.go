package broker_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lsrflow/lsrflow/internal/broker"
)

// rawConn speaks the Kafka wire protocol over one TCP connection with pinned request versions,
// so a test controls exactly when a member's connection dies (a SIGKILLed process).
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
	f    *kmsg.RequestFormatter
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("ghost-test"))}
}

// send writes req; recv reads the response of the request sent before it.
func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	if _, err := r.c.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		r.t.Fatal(err)
	}
	return r.corr
}

func (r *rawConn) recv(corr int32, resp kmsg.Response, timeout time.Duration) error {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	return resp.ReadFrom(body[4:]) // versions below are not flexible: no header tags
}

func (r *rawConn) do(req kmsg.Request, resp kmsg.Response) {
	r.t.Helper()
	resp.SetVersion(req.GetVersion())
	if err := r.recv(r.send(req), resp, 10*time.Second); err != nil {
		r.t.Fatalf("%T: %v", req, err)
	}
}

func joinReq(member string, sessionMs int32) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 2 // what kafka-go v0.4.51 sends: a new member joins at once, no member-id round trip
	req.Group = "g"
	req.MemberID = member
	req.SessionTimeoutMillis = sessionMs
	req.RebalanceTimeoutMillis = 3000
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

func syncReq(member string, gen int32, assign map[string][]int32) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 1
	req.Group, req.MemberID, req.Generation = "g", member, gen
	for m, parts := range assign {
		a := kmsg.NewConsumerMemberAssignment()
		tp := kmsg.NewConsumerMemberAssignmentTopic()
		tp.Topic, tp.Partitions = "t", parts
		a.Topics = append(a.Topics, tp)
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, a.AppendTo(nil)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return req
}

func heartbeat(c *rawConn, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.Generation = "g", member, gen
	resp := kmsg.NewPtrHeartbeatResponse()
	c.do(req, resp)
	return resp.ErrorCode
}

// TestMemberDeadInJoinIsEvicted is the liveness defect behind issue 17, reproduced on the wire:
// a new member's process dies while its JoinGroup waits for the rebalance; the rebalance then
// completes with it, the live leader assigns it partitions, and the group turns Stable. Apache
// Kafka schedules every member's heartbeat expiry when a join completes, whether or not the
// response reached it (GroupCoordinator.onCompleteJoin ->
// completeAndScheduleNextHeartbeatExpiration; in the new coordinator
// GroupMetadataManager.completeClassicGroupJoin -> rescheduleClassicGroupMemberHeartbeat), so
// the dead member is removed one session timeout later and its partitions move. kfake starts
// the session timer only after it managed to send the response (groups.go, group.reply ->
// updateHeartbeat), so the dead member would keep its partitions forever: lsrflow's broker
// must evict it like Kafka does.
func TestMemberDeadInJoinIsEvicted(t *testing.T) {
	b, err := broker.Start(broker.Config{Partitions: 3, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]
	const session = 1000 // ms

	// A joins alone, leads, takes every partition: Stable.
	a := dialRaw(t, addr)
	jr := kmsg.NewPtrJoinGroupResponse()
	a.do(joinReq("", session), jr)
	if jr.ErrorCode != 0 || jr.LeaderID != jr.MemberID {
		t.Fatalf("A join: error %d, leader %q member %q", jr.ErrorCode, jr.LeaderID, jr.MemberID)
	}
	memberA, gen := jr.MemberID, jr.Generation
	sr := kmsg.NewPtrSyncGroupResponse()
	a.do(syncReq(memberA, gen, map[string][]int32{memberA: {0, 1, 2}}), sr)
	if sr.ErrorCode != 0 {
		t.Fatalf("A sync: %v", kerr.ErrorForCode(sr.ErrorCode))
	}

	// B (a new process) sends JoinGroup, which waits for A to rejoin; B dies before that.
	bc := dialRaw(t, addr)
	bc.send(joinReq("", session))
	time.Sleep(100 * time.Millisecond)
	bc.c.Close()
	time.Sleep(100 * time.Millisecond)

	// A learns of the rebalance from its heartbeat and rejoins; the join completes at once
	// with A and the dead B; A, still the leader, gives B partition 2 and syncs: Stable.
	if code := heartbeat(a, memberA, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("A heartbeat during B's join: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	a.do(joinReq(memberA, session), jr)
	if jr.ErrorCode != 0 || len(jr.Members) != 2 || jr.LeaderID != memberA {
		t.Fatalf("A rejoin: error %d, %d members, leader %q (A is %q)", jr.ErrorCode, len(jr.Members), jr.LeaderID, memberA)
	}
	gen = jr.Generation
	var ghost string
	for _, m := range jr.Members {
		if m.MemberID != memberA {
			ghost = m.MemberID
		}
	}
	a.do(syncReq(memberA, gen, map[string][]int32{memberA: {0, 1}, ghost: {2}}), sr)
	if sr.ErrorCode != 0 {
		t.Fatalf("A sync with the dead member: %v", kerr.ErrorForCode(sr.ErrorCode))
	}

	// A keeps heartbeating. Within a few session timeouts the dead member must be gone: A's
	// heartbeat reports the rebalance that removes it, and A's rejoin completes alone.
	deadline := time.Now().Add(10 * session * time.Millisecond)
	for {
		code := heartbeat(a, memberA, gen)
		if code == kerr.RebalanceInProgress.Code {
			break
		}
		if code != 0 {
			t.Fatalf("A heartbeat: %v", kerr.ErrorForCode(code))
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s died during its join and still holds partition 2 after %d session timeouts", ghost, 10)
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.do(joinReq(memberA, session), jr)
	if jr.ErrorCode != 0 || len(jr.Members) != 1 || jr.Members[0].MemberID != memberA {
		t.Fatalf("A rejoin after the eviction: error %d, members %+v", jr.ErrorCode, jr.Members)
	}
}

// TestLiveMemberKeepsItsSession checks the other side of the session watch: a member that
// heartbeats within its session timeout (here every 0.7 of it) is never removed.
func TestLiveMemberKeepsItsSession(t *testing.T) {
	b, err := broker.Start(broker.Config{Partitions: 3, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const session = 1000 // ms
	a := dialRaw(t, b.Addrs()[0])
	jr := kmsg.NewPtrJoinGroupResponse()
	a.do(joinReq("", session), jr)
	if jr.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sr := kmsg.NewPtrSyncGroupResponse()
	a.do(syncReq(jr.MemberID, jr.Generation, map[string][]int32{jr.MemberID: {0, 1, 2}}), sr)
	if sr.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(sr.ErrorCode))
	}
	for range 6 {
		time.Sleep(700 * time.Millisecond)
		if code := heartbeat(a, jr.MemberID, jr.Generation); code != 0 {
			t.Fatalf("a member heartbeating every 0.7 session timeouts got %v", kerr.ErrorForCode(code))
		}
	}
}
