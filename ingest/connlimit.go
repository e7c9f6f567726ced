package ingest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter caps the open connections of a listener. It learns each connection's state from
// the server's ConnState hook, and from the handler whether a request is still receiving its
// body. At the cap, a new connection closes the one that has been idle (between requests) or
// new (no complete request headers yet) longest, which interrupts no request; failing that,
// the one that has been receiving a body longest (the slowest uploader; its request is
// refused, nothing of it was published). When every connection is busy publishing or
// answering, the new connection is answered 503 and closed at once. Either way a new client is
// never left waiting in the accept queue behind idle or slow connections.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*connEntry

	open              prometheus.GaugeFunc
	evicted, rejected prometheus.Counter
}

type connEntry struct {
	state   http.ConnState
	since   time.Time
	reading bool // the handler is receiving the request body (since then)
}

func newConnLimiter(ln net.Listener, maxConns int, reg prometheus.Registerer) (*connLimiter, error) {
	l := &connLimiter{Listener: ln, max: maxConns, conns: map[net.Conn]*connEntry{}}
	l.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lsrflow_ingest_connections", Help: "Open HTTP connections."},
		func() float64 { return float64(l.count()) })
	l.evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "lsrflow_ingest_connections_evicted_total",
		Help: "Idle or new connections closed to make room under the connection cap."})
	l.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "lsrflow_ingest_connections_rejected_total",
		Help: "Connections answered 503 because every connection under the cap was busy."})
	if reg != nil {
		for _, c := range []prometheus.Collector{l.open, l.evicted, l.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: registering metrics: %w", err)
			}
		}
	}
	return l, nil
}

func (l *connLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// refusal is written to a connection refused at the cap.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n"

// Accept returns the next connection, making room for it under the cap.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		now := time.Now()
		var victim net.Conn
		l.mu.Lock()
		if len(l.conns) >= l.max {
			if victim = l.victimLocked(); victim != nil {
				delete(l.conns, victim)
			}
		}
		full := len(l.conns) >= l.max
		if !full {
			l.conns[c] = &connEntry{state: http.StateNew, since: now}
		}
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Close()
			l.evicted.Inc()
		}
		if full {
			// A fresh socket's send buffer is empty: this write does not block.
			_ = c.SetWriteDeadline(now.Add(100 * time.Millisecond))
			_, _ = c.Write([]byte(refusal))
			_ = c.Close()
			l.rejected.Inc()
			continue
		}
		return c, nil
	}
}

// victimLocked returns the connection idle or new for the longest time, else the one receiving
// a body for the longest time, else nil.
func (l *connLimiter) victimLocked() net.Conn {
	var idle, reading net.Conn
	var idleAt, readingAt time.Time
	for c, e := range l.conns {
		switch {
		case e.state == http.StateIdle || e.state == http.StateNew:
			if idle == nil || e.since.Before(idleAt) {
				idle, idleAt = c, e.since
			}
		case e.reading:
			if reading == nil || e.since.Before(readingAt) {
				reading, readingAt = c, e.since
			}
		}
	}
	if idle != nil {
		return idle
	}
	return reading
}

// bodyMarkerKey is the context key of a connection's bodyMarker (set by connContext).
type bodyMarkerKey struct{}

// bodyMarker records whether a request is receiving its body.
type bodyMarker interface{ readingBody(on bool) }

// markReadingBody tells the connection limiter, if any, that ctx's request starts or stops
// receiving its body.
func markReadingBody(ctx context.Context, on bool) {
	if m, ok := ctx.Value(bodyMarkerKey{}).(bodyMarker); ok {
		m.readingBody(on)
	}
}

// connContext is the server's ConnContext hook: it gives the handler a way to mark c.
func (l *connLimiter) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, bodyMarkerKey{}, connMarker{l: l, c: c})
}

type connMarker struct {
	l *connLimiter
	c net.Conn
}

func (m connMarker) readingBody(on bool) {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	if e, ok := m.l.conns[m.c]; ok {
		e.reading, e.since = on, time.Now()
	}
}

// track is the server's ConnState hook.
func (l *connLimiter) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		if e, ok := l.conns[c]; ok && e.state != s {
			e.state, e.since, e.reading = s, time.Now(), false
		}
	}
}
