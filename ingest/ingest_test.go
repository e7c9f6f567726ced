package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

const (
	qTopic = "t.queries"
	dTopic = "t.dead-letters"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHandler(t *testing.T, o Options) (*Handler, *memory.Transport) {
	t.Helper()
	tr := memory.New(memory.WithDefaultPartitions(3))
	t.Cleanup(func() { _ = tr.Close() })
	if o.Publisher == nil {
		o.Publisher = tr
	}
	o.QueriesTopic, o.DeadLettersTopic = qTopic, dTopic
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h, tr
}

func post(t *testing.T, h http.Handler, body string, hdr ...string) (*httptest.ResponseRecorder, Result) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/queries", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var res Result
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("response %q: %v", rec.Body.String(), err)
		}
	}
	return rec, res
}

func queries(t *testing.T, tr *memory.Transport) []schemas.Query {
	t.Helper()
	var out []schemas.Query
	for _, m := range tr.Messages(qTopic) {
		q, err := schemas.DecodeQuery(m.Value)
		if err != nil {
			t.Fatalf("published query %q: %v", m.Value, err)
		}
		if string(m.Key) != q.ID {
			t.Errorf("message key %q, query id %q", m.Key, q.ID)
		}
		out = append(out, q)
	}
	return out
}

func deadLetters(t *testing.T, tr *memory.Transport) []schemas.DeadLetter {
	t.Helper()
	var out []schemas.DeadLetter
	for _, m := range tr.Messages(dTopic) {
		d, err := schemas.DecodeDeadLetter(m.Value)
		if err != nil {
			t.Fatalf("published dead letter %q: %v", m.Value, err)
		}
		out = append(out, d)
	}
	return out
}

func TestPostPublishesValidLinesAndDeadLettersBadOnes(t *testing.T) {
	h, tr := newHandler(t, Options{})
	body := strings.Join([]string{
		`{"id":"a1","question":"who wrote hamlet","golden_answers":["Shakespeare"]}`,
		`what is the capital of france`,
		`{"query":"how tall is everest"}`,
		`{"question": broken`,
		`{"id":"x","question":""}`,
		"",
		`[1,2]`,
	}, "\n")
	rec, res := post(t, h, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if res != (Result{Accepted: 3, DeadLettered: 3}) {
		t.Fatalf("result %+v, want 3 accepted, 3 dead-lettered", res)
	}
	qs := queries(t, tr)
	if len(qs) != 3 {
		t.Fatalf("%d queries published, want 3", len(qs))
	}
	byQ := map[string]schemas.Query{}
	for _, q := range qs {
		byQ[q.Question] = q
	}
	if q := byQ["who wrote hamlet"]; q.ID != "a1" || len(q.GoldenAnswers) != 1 {
		t.Errorf("dataset line: %+v", q)
	}
	if q := byQ["what is the capital of france"]; q.ID != schemas.QueryIDFor("what is the capital of france") || q.Source != "http" || q.Time.IsZero() {
		t.Errorf("plain-text line: %+v", q)
	}
	if _, ok := byQ["how tall is everest"]; !ok {
		t.Errorf("a {\"query\":...} line was not published: %v", byQ)
	}
	dls := deadLetters(t, tr)
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dls))
	}
	reasons := map[string]bool{}
	for _, d := range dls {
		if d.Stage != "ingest" || d.Reason == "" || len(d.Payload) == 0 || d.Key == "" {
			t.Errorf("dead letter %+v", d)
		}
		reasons[d.Reason] = true
	}
	if string(dls[0].Payload) != `{"question": broken` && string(dls[1].Payload) != `{"question": broken` && string(dls[2].Payload) != `{"question": broken` {
		t.Errorf("original bytes not kept: %q %q %q", dls[0].Payload, dls[1].Payload, dls[2].Payload)
	}
	for _, r := range []string{schemas.ReasonBrokenJSON, schemas.ReasonMissingQuestion} {
		if !reasons[r] {
			t.Errorf("no dead letter with reason %s: %v", r, reasons)
		}
	}
}

func TestLongLineIsDeadLettered(t *testing.T) {
	h, tr := newHandler(t, Options{MaxLineBytes: 64})
	rec, res := post(t, h, "short question\n"+strings.Repeat("x", 200)+"\n")
	if rec.Code != http.StatusOK || res != (Result{Accepted: 1, DeadLettered: 1}) {
		t.Fatalf("status %d result %+v", rec.Code, res)
	}
	if d := deadLetters(t, tr); len(d) != 1 || d[0].Reason != schemas.ReasonTooLong {
		t.Fatalf("dead letters %+v", d)
	}
}

func TestBodyLimit413PublishesNothing(t *testing.T) {
	h, tr := newHandler(t, Options{MaxBody: 100})
	body := strings.Repeat("what is a question\n", 20) // 380 bytes
	rec, _ := post(t, h, body)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	// Without Content-Length (chunked): the limit is enforced while reading.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/queries", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", rr.Code)
	}
	if n := len(tr.Messages(qTopic)) + len(tr.Messages(dTopic)); n != 0 {
		t.Fatalf("%d messages published by rejected requests", n)
	}
	if rec, res := post(t, h, "small one\n"); rec.Code != http.StatusOK || res.Accepted != 1 {
		t.Fatalf("body under the limit: %d %+v", rec.Code, res)
	}
}

func TestBearerToken(t *testing.T) {
	h, tr := newHandler(t, Options{Token: "s3cret"})
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Basic s3cret"}} {
		rec, _ := post(t, h, "q one\n", hdr...)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("header %v: status %d, want 401 with WWW-Authenticate", hdr, rec.Code)
		}
	}
	if len(tr.Messages(qTopic)) != 0 {
		t.Fatal("unauthorized request published")
	}
	rec, res := post(t, h, "q one\n", "Authorization", "Bearer s3cret")
	if rec.Code != http.StatusOK || res.Accepted != 1 {
		t.Fatalf("right token: %d %+v", rec.Code, res)
	}
	// Health endpoints need no token.
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil))
	if rr.Code != http.StatusOK {
		t.Fatalf("/healthz %d", rr.Code)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h, _ := newHandler(t, Options{})
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/queries", nil))
	if rr.Code != http.StatusMethodNotAllowed || rr.Header().Get("Allow") != "POST" {
		t.Fatalf("GET /v1/queries: %d allow=%q", rr.Code, rr.Header().Get("Allow"))
	}
}

func TestDedupWithinWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h, tr := newHandler(t, Options{DedupWindow: 10 * time.Minute, Now: c.now})
	_, res := post(t, h, "Who wrote Hamlet?\nwho wrote  hamlet\n")
	if res != (Result{Accepted: 1, Duplicates: 1}) {
		t.Fatalf("same request: %+v", res)
	}
	c.add(5 * time.Minute)
	_, res = post(t, h, `{"id":"other-id","question":"WHO wrote the Hamlet"}`+"\nnew question\n")
	if res != (Result{Accepted: 1, Duplicates: 1}) {
		t.Fatalf("within window (normalized text, other id): %+v", res)
	}
	c.add(6 * time.Minute) // 11 min after the first occurrence: expired
	_, res = post(t, h, "who wrote hamlet\n")
	if res != (Result{Accepted: 1}) {
		t.Fatalf("after the window: %+v", res)
	}
	if n := len(queries(t, tr)); n != 3 {
		t.Fatalf("%d queries published, want 3", n)
	}
}

func TestDedupDisabled(t *testing.T) {
	h, _ := newHandler(t, Options{DedupWindow: -1})
	if _, res := post(t, h, "a\na\na\n"); res.Accepted != 3 {
		t.Fatalf("%+v", res)
	}
}

func TestDedupIsBounded(t *testing.T) {
	d := NewDedup(time.Hour, 100)
	now := time.Now()
	for i := range 10_000 {
		d.Reserve(fmt.Sprint("q", i), now)
	}
	if d.Len() != 100 {
		t.Fatalf("len %d, want capacity 100", d.Len())
	}
	if d.Reserve("q0", now) != true {
		t.Error("evicted oldest key still counted as seen")
	}
	if d.Reserve("q9999", now) != false {
		t.Error("newest key forgotten")
	}
	// Expiry empties the set without further inserts of the same keys.
	d.Reserve("late", now.Add(2*time.Hour))
	if d.Len() != 1 {
		t.Fatalf("after expiry len %d, want 1", d.Len())
	}
}

// failPublisher fails every publish.
type failPublisher struct{}

func (failPublisher) Publish(context.Context, string, ...streams.Message) error {
	return errors.New("broker unavailable")
}

func TestPublishFailureIs503AndRetryIsNotDuplicate(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	pub := &switchPublisher{fail: true, next: tr}
	h, err := New(Options{Publisher: pub, QueriesTopic: qTopic, DeadLettersTopic: dTopic})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := post(t, h, "who wrote hamlet\n")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	pub.set(false)
	rec, res := post(t, h, "who wrote hamlet\n")
	if rec.Code != http.StatusOK || res != (Result{Accepted: 1}) {
		t.Fatalf("retry: %d %+v (a failed request must not count as seen)", rec.Code, res)
	}
}

type switchPublisher struct {
	mu   sync.Mutex
	fail bool
	next streams.Publisher
}

func (p *switchPublisher) set(fail bool) { p.mu.Lock(); p.fail = fail; p.mu.Unlock() }
func (p *switchPublisher) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	p.mu.Lock()
	fail := p.fail
	p.mu.Unlock()
	if fail {
		return failPublisher{}.Publish(ctx, topic, msgs...)
	}
	return p.next.Publish(ctx, topic, msgs...)
}

// blockingPublisher holds every publish until release is closed.
type blockingPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, _ string, _ ...streams.Message) error {
	p.entered <- struct{}{}
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestBackpressure429(t *testing.T) {
	pub := &blockingPublisher{entered: make(chan struct{}, 8), release: make(chan struct{})}
	h, _ := newHandler(t, Options{Publisher: pub, MaxInflight: 2, RetryAfter: 2 * time.Second})
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := range 2 {
		wg.Go(func() {
			rec, _ := post(t, h, fmt.Sprintf("blocked question %d\n", i))
			codes <- rec.Code
		})
	}
	<-pub.entered
	<-pub.entered // both slots are publishing
	rec, _ := post(t, h, "one more\n")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(pub.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("in-flight request finished with %d", c)
		}
	}
	// Slots are free again.
	if rec, _ := post(t, h, "after release\n"); rec.Code != http.StatusOK {
		t.Fatalf("after release: %d", rec.Code)
	}
	// The 429-ed question was not reserved: it is accepted now.
	if rec, res := post(t, h, "one more\n"); rec.Code != http.StatusOK || res.Accepted != 1 {
		t.Fatalf("429-ed question later: %d %+v", rec.Code, res)
	}
}

func TestReadiness(t *testing.T) {
	var mu sync.Mutex
	var probeErr error
	h, _ := newHandler(t, Options{Ready: func(context.Context) error { mu.Lock(); defer mu.Unlock(); return probeErr }})
	get := func() int {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
		return rr.Code
	}
	if c := get(); c != http.StatusOK {
		t.Fatalf("ready: %d", c)
	}
	mu.Lock()
	probeErr = errors.New("no broker")
	mu.Unlock()
	if c := get(); c != http.StatusServiceUnavailable {
		t.Fatalf("transport down: %d, want 503", c)
	}
	mu.Lock()
	probeErr = nil
	mu.Unlock()
	h.SetStopping()
	if c := get(); c != http.StatusServiceUnavailable {
		t.Fatalf("stopping: %d, want 503", c)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	pub := &blockingPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h, _ := newHandler(t, Options{Publisher: pub})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, 5*time.Second) }()
	url := "http://" + ln.Addr().String()
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/queries", strings.NewReader("in flight\n"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-pub.entered
	cancel() // shutdown begins while a request is publishing
	time.Sleep(50 * time.Millisecond)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	if rr.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during shutdown: %d", rr.Code)
	}
	close(pub.release)
	if c := <-status; c != http.StatusOK {
		t.Fatalf("in-flight request during shutdown: %d, want 200", c)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("no publisher accepted")
	}
	if _, err := New(Options{Publisher: failPublisher{}, QueriesTopic: "q"}); err == nil {
		t.Fatal("no dead-letter topic accepted")
	}
	if _, err := New(Options{Publisher: failPublisher{}, QueriesTopic: "q", DeadLettersTopic: "d", MaxBody: -1}); err == nil {
		t.Fatal("negative body limit accepted")
	}
}
