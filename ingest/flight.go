package ingest

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/lsrflow/lsrflow/streams"
)

// flight is one publish of the lines a request claimed: its dead letters, then its queries.
// It runs on the handler's own context, not the request's, so a client that times out or
// disconnects never abandons a half-written batch; whoever needs its outcome waits on done.
type flight struct {
	done chan struct{}
	// Outcomes per topic, valid once done is closed.
	deadOK, queriesOK bool
}

func newFlight() *flight { return &flight{done: make(chan struct{})} }

// ok reports whether the message of a line on the dead-letter (dead) or queries topic was
// acknowledged. Call it only after done is closed.
func (f *flight) ok(dead bool) bool {
	if dead {
		return f.deadOK
	}
	return f.queriesOK
}

// pendingLine is one line a flight publishes.
type pendingLine struct {
	key  lineKey
	dead bool
	msg  streams.Message
}

// start publishes lines in the background and settles their keys in the ledger when done.
// It takes a reference on acct (the memory of the lines), released when the publish ends.
func (h *Handler) start(f *flight, lines []pendingLine, acct *account) {
	acct.hold()
	h.flights.Add(1)
	go func() {
		defer h.flights.Done()
		defer acct.drop()
		ctx, cancel := context.WithTimeout(h.base, h.o.Limits.PublishTimeout)
		defer cancel()
		var dead, queries []streams.Message
		var deadKeys, queryKeys []lineKey
		for _, l := range lines {
			if l.dead {
				dead, deadKeys = append(dead, l.msg), append(deadKeys, l.key)
			} else {
				queries, queryKeys = append(queries, l.msg), append(queryKeys, l.key)
			}
		}
		f.deadOK = h.publishTopic(ctx, h.o.DeadLettersTopic, dead)
		f.queriesOK = h.publishTopic(ctx, h.o.QueriesTopic, queries)
		now := h.o.Now()
		h.ledger.settle(deadKeys, f, f.deadOK, now)
		h.ledger.settle(queryKeys, f, f.queriesOK, now)
		close(f.done)
	}()
}

func (h *Handler) publishTopic(ctx context.Context, topic string, msgs []streams.Message) bool {
	if len(msgs) == 0 {
		return true
	}
	err := h.o.Publisher.Publish(ctx, topic, msgs...)
	if err != nil {
		h.publishFailures.Inc()
		h.o.Log.Warn("ingest publish failed; the lines are free to be retried", "topic", topic, "messages", len(msgs), "err", err)
		return false
	}
	return true
}

// memGate is the handler's in-flight memory budget: every request charges what it holds
// (buffers, decoded lines, messages) while it reads, and keeps it charged until its publish
// ends. A slow client therefore holds only what it has sent, never a whole slot.
type memGate struct {
	used  atomic.Int64
	limit int64
}

func (g *memGate) tryAcquire(n int64) bool {
	for {
		u := g.used.Load()
		if u+n > g.limit {
			return false
		}
		if g.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// account is what one request charged to the gate, shared by the request and the publishes it
// started: the bytes are given back when the last of them lets go.
type account struct {
	gate *memGate
	refs atomic.Int32
	held atomic.Int64
}

func newAccount(g *memGate) *account {
	a := &account{gate: g}
	a.refs.Store(1)
	return a
}

// charge adds n bytes to the account; false when the gate has no room (nothing is charged).
func (a *account) charge(n int64) bool {
	if !a.gate.tryAcquire(n) {
		return false
	}
	a.held.Add(n)
	return true
}

func (a *account) hold() { a.refs.Add(1) }

func (a *account) drop() {
	switch n := a.refs.Add(-1); {
	case n == 0:
		a.gate.used.Add(-a.held.Swap(0))
	case n < 0:
		panic(fmt.Sprintf("ingest: account released %d times too often", -n))
	}
}
