package ingest

// Hostile clients against a real server on loopback (issue 15): idle, slow and unauthenticated
// connections, floods of tiny lines, oversized lines. Bounded in count and time: at most a few
// hundred connections, each case a few seconds. cmd-level runs of `lsrflow serve` as a process,
// with RSS measured, are in tests/serve_hostile_test.go.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

// startServer serves a new handler on a loopback port until the test ends.
func startServer(t *testing.T, o Options, so ServerOptions) (string, *Handler, *memory.Transport) {
	t.Helper()
	h, tr := newHandler(t, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if so.DrainDelay == 0 {
		so.DrainDelay = time.Millisecond
	}
	go func() { done <- Serve(ctx, ln, h, so) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), h, tr
}

// watchClose reads c until the server closes it and reports how long after start that was.
func watchClose(c net.Conn, start time.Time, out chan<- time.Duration) {
	_, _ = io.Copy(io.Discard, c)
	out <- time.Since(start)
	c.Close()
}

// newClientWorks checks that a fresh client gets /healthz and a POST through.
func newClientWorks(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a new client's /healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = c.Post("http://"+addr+"/v1/queries", "text/plain", strings.NewReader(fmt.Sprintf("new client question %d\n", time.Now().UnixNano())))
	if err != nil {
		t.Fatalf("a new client's POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a new client's POST: %d", resp.StatusCode)
	}
}

// TestHostileIdleAndSlowConnections: 200 idle keep-alive connections, 200 slowloris header
// senders and 200 slow body uploaders are all closed within the configured timeouts, and a new
// client is served while they are open: with a cap above their number (closed by the timeouts)
// and with a cap far below it (closed to make room).
func TestHostileIdleAndSlowConnections(t *testing.T) {
	const n = 200
	for _, maxConns := range []int{1024, 64} {
		t.Run(fmt.Sprintf("max conns %d", maxConns), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			so := ServerOptions{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, IdleTimeout: time.Second,
				MaxConns: maxConns, Registerer: reg}
			addr, _, _ := startServer(t, Options{}, so)
			closed := map[string]chan time.Duration{"idle": make(chan time.Duration, n), "slow headers": make(chan time.Duration, n), "slow bodies": make(chan time.Duration, n)}
			var writers sync.WaitGroup
			stop := make(chan struct{})
			defer func() { close(stop); writers.Wait() }()
			trickle := func(c net.Conn, piece string) {
				writers.Go(func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(300 * time.Millisecond):
						}
						if _, err := io.WriteString(c, piece); err != nil {
							return
						}
					}
				})
			}
			dial := func() (net.Conn, time.Time) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				return c, time.Now()
			}
			for range n {
				c, start := dial()
				_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				br := bufio.NewReader(c)
				if resp, err := http.ReadResponse(br, nil); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				} // an evicted connection fails here: it is closed, which is what is watched
				go watchClose(c, start, closed["idle"])
			}
			for range n {
				c, start := dial()
				_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
				trickle(c, "X-Slow: y\r\n")
				go watchClose(c, start, closed["slow headers"])
			}
			for range n {
				c, start := dial()
				_, _ = io.WriteString(c, "POST /v1/queries HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nslow")
				trickle(c, strings.Repeat("q", 100))
				go watchClose(c, start, closed["slow bodies"])
			}
			newClientWorks(t, addr)
			limits := map[string]time.Duration{"idle": so.IdleTimeout, "slow headers": so.ReadHeaderTimeout, "slow bodies": so.ReadTimeout}
			for kind, ch := range closed {
				var worst time.Duration
				for range n {
					select {
					case d := <-ch:
						worst = max(worst, d)
					case <-time.After(limits[kind] + 15*time.Second):
						t.Fatalf("%s connections still open %v after their timeout of %v", kind, 15*time.Second, limits[kind])
					}
				}
				t.Logf("%d %s connections: the last closed %v after it opened (timeout %v)", n, kind, worst.Round(time.Millisecond), limits[kind])
			}
			if maxConns < 3*n {
				evicted := counterValue(t, reg, "lsrflow_ingest_connections_evicted_total")
				t.Logf("evicted %v connections to stay under the cap", evicted)
				if evicted == 0 {
					t.Error("no connection was evicted under a cap below the connections opened")
				}
			}
			newClientWorks(t, addr)
		})
	}
}

// counterValue reads a registered counter by name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestHostileBusyConnectionsGet503 fills the cap with requests inside the handler (publishes
// that hang): the next connection is answered 503 at once instead of waiting in the backlog.
func TestHostileBusyConnectionsGet503(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	pub := newGatePublisher(tr)
	addr, _, _ := startServer(t, Options{Publisher: pub}, ServerOptions{MaxConns: 4})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			resp, err := http.Post("http://"+addr+"/v1/queries", "text/plain", strings.NewReader(fmt.Sprintf("busy %d\n", i)))
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	var calls []*gateCall
	for range 4 {
		calls = append(calls, <-pub.calls)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("connection over a busy cap: %v %v, want 503 with Retry-After", resp, err)
	}
	c.Close()
	for _, call := range calls {
		call.end <- nil
	}
	wg.Wait()
}

// TestHostileUnauthenticatedConnectionsAreClosed: after a 401 the server closes the connection
// instead of keeping it alive for the next guess.
func TestHostileUnauthenticatedConnectionsAreClosed(t *testing.T) {
	addr, _, tr := startServer(t, Options{Token: "t0ken"}, ServerOptions{IdleTimeout: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "POST /v1/queries HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nq1\n\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%v %v, want 401", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection stays open after a 401 (idle timeout is a minute)")
	}
	if len(tr.Messages(qTopic)) != 0 {
		t.Fatal("published without the token")
	}
}

// heapPeak samples the heap in use while f runs and returns the peak above the start.
func heapPeak(f func()) uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
				peak.Store(m.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// TestHostileFloods: four concurrent copies each of 1 MiB of "{\n" (524,288 lines; issue 15
// saw 2.2 GB of RSS) and of 1 MiB of control characters (six bytes each once JSON-escaped) are
// refused before anything is published; four concurrent copies of 10,000 distinct bad lines
// (the most the line cap lets through) put each dead letter on the topic once; all in bounded
// memory. The process-level RSS of such floods is measured in tests/serve_hostile_test.go.
func TestHostileFloods(t *testing.T) {
	addr, _, tr := startServer(t, Options{}, ServerOptions{})
	distinct := func() string {
		var b strings.Builder
		for i := range 10_000 {
			fmt.Fprintf(&b, "{\"question\": %d %s\n", i, strings.Repeat("<", 60))
		}
		return b.String()
	}()
	var ctl strings.Builder
	for i := range 10 {
		fmt.Fprintf(&ctl, "%d%s\n", i, strings.Repeat("\x01", 100_000))
	}
	for _, c := range []struct {
		name string
		body string
		code int
	}{
		{`1 MiB of "{\n"`, strings.Repeat("{\n", 1<<19), http.StatusRequestEntityTooLarge},
		{"10,000 distinct bad lines", distinct, http.StatusOK},
		{"10,000 equal bad lines", strings.Repeat("{\n", 10_000), http.StatusOK},
		{"1 MiB of control characters", ctl.String(), http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			codes := make(chan int, 4)
			peak := heapPeak(func() {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						resp, err := http.Post("http://"+addr+"/v1/queries", "application/x-ndjson", strings.NewReader(c.body))
						if err != nil {
							codes <- -1
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						codes <- resp.StatusCode
					})
				}
				wg.Wait()
			})
			close(codes)
			for code := range codes {
				if code != c.code {
					t.Errorf("status %d, want %d", code, c.code)
				}
			}
			t.Logf("4 concurrent bodies of %d bytes: heap peak +%.1f MiB (client and server in this process)", len(c.body), float64(peak)/(1<<20))
			if peak > 200<<20 {
				t.Errorf("heap grew by %d MiB", peak>>20)
			}
		})
	}
	if n := len(tr.Messages(qTopic)); n != 0 {
		t.Errorf("%d queries published by floods", n)
	}
	if n := len(tr.Messages(dTopic)); n != 10_001 {
		t.Errorf("%d dead letters published, want 10,001 (each distinct bad line once, the equal ones once)", n)
	}
}

// TestHostileOversizedLines: the lines issue 15 saw failing whole requests forever are
// dead-lettered in bounded form while the other lines of the request are accepted: 200 KB of
// '<' (six bytes each when JSON-escaped with HTML escaping), 800 KB of invalid UTF-8, a line
// over the line limit, and a line of quotes whose escaped message exceeds the message limit.
func TestHostileOversizedLines(t *testing.T) {
	lim := Limits{MaxBody: 4 << 20, MaxLineBytes: 1 << 20, RequestBudget: 8 << 20}
	addr, _, tr := startServer(t, Options{Limits: lim}, ServerOptions{})
	lines := []string{
		"good question one",
		strings.Repeat("<", 200_000),
		"good question two",
		strings.Repeat("\xff", 800_000),
		strings.Repeat("x", 1<<20+1),
		"{\"question\":\"" + strings.Repeat(`\"`, 500_000) + "\"}",
		"good question three",
	}
	resp, err := http.Post("http://"+addr+"/v1/queries", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	t.Logf("answer: %s", body)
	qs := queries(t, tr)
	if len(qs) != 4 {
		t.Fatalf("%d queries published, want 4 (three good lines and the '<' line, one byte per '<')", len(qs))
	}
	dls := deadLetters(t, tr)
	reasons := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		reasons[d.Reason] = d
		if len(d.Payload) > DefaultLimits().DeadLetterPayload || !d.Truncated() || len(d.PayloadSHA256) != 64 {
			t.Errorf("dead letter %s not bounded: payload %d bytes, size %d, sha %q", d.Reason, len(d.Payload), d.PayloadSize, d.PayloadSHA256)
		}
	}
	for reason, line := range map[string]int{schemas.ReasonInvalidUTF8: 3, schemas.ReasonTooLong: 4, ReasonTooLarge: 5} {
		d, ok := reasons[reason]
		if !ok || d.PayloadSize != int64(len(lines[line])) || d.PayloadSHA256 != sha256Hex(lines[line]) {
			t.Errorf("no bounded dead letter %s of line %d (%d bytes): %+v", reason, line+1, len(lines[line]), d)
		}
	}
	for _, m := range tr.Messages(qTopic) {
		if len(m.Value) > DefaultLimits().MaxMessageBytes {
			t.Errorf("a %d-byte query message was published", len(m.Value))
		}
	}
}

// discardPublisher acknowledges every publish and keeps nothing.
type discardPublisher struct{ n atomic.Int64 }

func (p *discardPublisher) Publish(_ context.Context, _ string, msgs ...streams.Message) error {
	p.n.Add(int64(len(msgs)))
	return nil
}

// TestHostileHugeUniqueQuestionsDoNotStayInMemory: issue 15 saw 150 unique 900 KB questions
// retain 180 MB in the de-duplication set. The ledger keeps a 16-byte hash per line, so after
// 60 such requests (54 MB of questions) the heap is back where it started, and each question is
// still recognised as a duplicate.
func TestHostileHugeUniqueQuestionsDoNotStayInMemory(t *testing.T) {
	pub := &discardPublisher{}
	h, _ := newHandler(t, Options{Publisher: pub})
	question := func(i int) string { return fmt.Sprintf("%d %s\n", i, strings.Repeat("q", 900_000)) }
	post(t, h, question(-1)) // the handler's one-time allocations
	before := heapAlloc()
	for i := range 60 {
		if rec, res := post(t, h, question(i)); rec.Code != http.StatusOK || res.Accepted != 1 {
			t.Fatalf("question %d: %d %+v", i, rec.Code, res)
		}
	}
	grown := int64(heapAlloc()) - int64(before)
	t.Logf("60 unique 900 KB questions: heap %+d bytes", grown)
	if grown > 4<<20 {
		t.Errorf("the heap grew by %d MiB after 60 unique 900 KB questions", grown>>20)
	}
	if _, res := post(t, h, question(7)); res.Duplicates != 1 || pub.n.Load() != 61 {
		t.Errorf("a repeat of question 7: %+v, %d messages published", res, pub.n.Load())
	}
}
