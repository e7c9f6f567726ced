package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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
	t.Cleanup(h.Close)
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

// counts is (accepted, duplicates, dead-lettered).
func counts(r Result) [3]int { return [3]int{r.Accepted, r.Duplicates, r.DeadLettered} }

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

// parseLineRanges expands "3,7-9" as Result lists line numbers.
func parseLineRanges(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(b)
		}
		if err != nil || hi < lo {
			t.Fatalf("line ranges %q: bad part %q", s, part)
		}
		for n := lo; n <= hi; n++ {
			out = append(out, n)
		}
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
	if counts(res) != [3]int{3, 0, 3} || res.Lines != 6 {
		t.Fatalf("result %+v, want 6 lines: 3 accepted, 3 dead-lettered", res)
	}
	want := map[string]string{schemas.ReasonBrokenJSON: "4", schemas.ReasonMissingQuestion: "5", schemas.ReasonNotObject: "7"}
	if fmt.Sprint(res.DeadLetteredLines) != fmt.Sprint(want) {
		t.Errorf("dead-lettered lines %v, want %v", res.DeadLetteredLines, want)
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
	byPayload := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		if d.Stage != "ingest" || d.Reason == "" || d.Key == "" || d.Truncated() {
			t.Errorf("dead letter %+v", d)
		}
		byPayload[string(d.Payload)] = d
	}
	if d, ok := byPayload[`{"question": broken`]; !ok || d.Reason != schemas.ReasonBrokenJSON || d.Offset != 4 {
		t.Errorf("original bytes, reason or line number not kept: %+v", dls)
	}
}

func TestLongLineIsDeadLetteredBounded(t *testing.T) {
	h, tr := newHandler(t, Options{Limits: Limits{MaxLineBytes: 64, DeadLetterPayload: 16}})
	long := strings.Repeat("x", 200)
	rec, res := post(t, h, "short question\n"+long+"\n")
	if rec.Code != http.StatusOK || counts(res) != [3]int{1, 0, 1} || res.DeadLetteredLines[schemas.ReasonTooLong] != "2" {
		t.Fatalf("status %d result %+v", rec.Code, res)
	}
	d := deadLetters(t, tr)
	if len(d) != 1 || d[0].Reason != schemas.ReasonTooLong {
		t.Fatalf("dead letters %+v", d)
	}
	if string(d[0].Payload) != long[:16] || d[0].PayloadSize != 200 || !d[0].Truncated() || d[0].PayloadSHA256 != sha256Hex(long) {
		t.Errorf("bounded form: payload %q size %d sha %s", d[0].Payload, d[0].PayloadSize, d[0].PayloadSHA256)
	}
}

func TestBodyLimit413PublishesNothing(t *testing.T) {
	h, tr := newHandler(t, Options{Limits: Limits{MaxBody: 100}})
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

func TestTooManyLinesAndBudget413PublishNothing(t *testing.T) {
	h, tr := newHandler(t, Options{Limits: Limits{MaxLines: 5}})
	var b strings.Builder
	for i := range 6 {
		fmt.Fprintf(&b, "question %d\n", i)
	}
	if rec, _ := post(t, h, b.String()); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("6 lines with max 5: %d, want 413", rec.Code)
	}
	// Blank lines do not count.
	if rec, res := post(t, h, "a\n\n\n\nb\n\n\nc\n"); rec.Code != http.StatusOK || res.Accepted != 3 {
		t.Fatalf("blank lines counted: %d %+v", rec.Code, res)
	}
	if n := len(tr.Messages(qTopic)); n != 3 {
		t.Fatalf("%d queries published, want the 3 of the accepted request", n)
	}
	h2, tr2 := newHandler(t, Options{Limits: Limits{RequestBudget: 200 << 10}})
	b.Reset()
	for i := range 1000 {
		fmt.Fprintf(&b, "{broken %d\n", i) // 1000 distinct dead letters of ~400 bytes
	}
	if rec, _ := post(t, h2, b.String()); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "204800 bytes") {
		t.Fatalf("over the budget: %d %s, want 413 naming the budget", rec.Code, rec.Body)
	}
	if n := len(tr2.Messages(qTopic)) + len(tr2.Messages(dTopic)); n != 0 {
		t.Fatalf("%d messages published by a rejected request", n)
	}
	// The same bad line repeated costs one message of the budget.
	if rec, res := post(t, h2, strings.Repeat("{\n", 1000)); rec.Code != http.StatusOK || res.DeadLettered != 1000 || len(tr2.Messages(dTopic)) != 1 {
		t.Fatalf("1000 equal bad lines: %d %+v, %d dead letters published", rec.Code, res, len(tr2.Messages(dTopic)))
	}
}

func TestBearerToken(t *testing.T) {
	h, tr := newHandler(t, Options{Token: "s3cret"})
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Basic s3cret"}} {
		rec, _ := post(t, h, "q one\n", hdr...)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Connection") != "close" {
			t.Errorf("header %v: status %d, want 401 with WWW-Authenticate and Connection: close", hdr, rec.Code)
		}
	}
	if len(tr.Messages(qTopic)) != 0 {
		t.Fatal("unauthorized request published")
	}
	rec, res := post(t, h, "q one\n", "Authorization", "Bearer s3cret")
	if rec.Code != http.StatusOK || res.Accepted != 1 {
		t.Fatalf("right token: %d %+v", rec.Code, res)
	}
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
	h, tr := newHandler(t, Options{Limits: Limits{DedupWindow: 10 * time.Minute}, Now: c.now})
	_, res := post(t, h, "Who wrote Hamlet?\nwho wrote  hamlet\n")
	if counts(res) != [3]int{1, 1, 0} || res.DuplicateLines != "2" {
		t.Fatalf("same request: %+v", res)
	}
	c.add(5 * time.Minute)
	_, res = post(t, h, `{"question":"WHO wrote Hamlet"}`+"\nnew question\n"+`{"id":"other-id","question":"who wrote hamlet"}`+"\n")
	if counts(res) != [3]int{2, 1, 0} || res.DuplicateLines != "1" {
		t.Fatalf("within window (case, JSON line without id) and an explicit other id: %+v", res)
	}
	c.add(6 * time.Minute) // 11 min after the first occurrence: expired
	_, res = post(t, h, "who wrote hamlet\n")
	if counts(res) != [3]int{1, 0, 0} {
		t.Fatalf("after the window: %+v", res)
	}
	if n := len(queries(t, tr)); n != 4 {
		t.Fatalf("%d queries published, want 4", n)
	}
}

func TestDedupKeysOnIDQuestionAndAnswers(t *testing.T) {
	h, tr := newHandler(t, Options{})
	lines := []string{
		`{"id":"1","question":"capital of france","golden_answers":["Paris"]}`,
		`{"id":"1","question":"Capital of  France?","golden_answers":["Paris"]}`, // duplicate of 1
		`{"id":"2","question":"capital of france","golden_answers":["Paris"]}`,   // other id
		`{"id":"1","question":"capital of france","golden_answers":["paris"]}`,   // other answers
		`{"id":"1","question":"capital of france"}`,                              // no answers
		`{"id":"1","question":"capital of france","golden_answers":["Paris"],"gold_doc_ids":["d7"]}`,
	}
	_, res := post(t, h, strings.Join(lines, "\n"))
	if counts(res) != [3]int{5, 1, 0} || res.DuplicateLines != "2" {
		t.Fatalf("%+v", res)
	}
	if n := len(queries(t, tr)); n != 5 {
		t.Fatalf("%d queries published, want 5", n)
	}
}

// The pairs of issue 15 that FlashRAG's answer normalization merged.
func TestSymbolPairsAreNotDuplicates(t *testing.T) {
	h, tr := newHandler(t, Options{})
	pairs := [][2]string{{"C++", "C#"}, {"2+2", "2-2"}, {"2+2", "22"}, {"2-2", "22"}, {"3<5", "3>5"}, {"1/2", "12"}, {".NET", "NET"}}
	for _, p := range pairs {
		if NormalizeQuestion(p[0]) == NormalizeQuestion(p[1]) {
			t.Errorf("%q and %q normalize alike", p[0], p[1])
		}
	}
	body := "what is C++\nwhat is C#\nwhat is 2+2\nwhat is 2-2\nwhat is 22\nis 3<5\nis 3>5\nwhat is 1/2\nwhat is 12\nwhat is .NET\nwhat is NET\n"
	_, res := post(t, h, body)
	if counts(res) != [3]int{11, 0, 0} {
		t.Fatalf("%+v", res)
	}
	if n := len(queries(t, tr)); n != 11 {
		t.Fatalf("%d queries on the topic, want 11", n)
	}
	// And in separate requests.
	h2, tr2 := newHandler(t, Options{})
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		if _, res := post(t, h2, l+"\n"); res.Accepted != 1 {
			t.Fatalf("%q alone: %+v", l, res)
		}
	}
	if n := len(queries(t, tr2)); n != 11 {
		t.Fatalf("%d queries on the topic, want 11", n)
	}
}

func TestDedupDisabled(t *testing.T) {
	h, _ := newHandler(t, Options{Limits: Limits{DedupWindow: -1}})
	if _, res := post(t, h, "a\n"); res.Accepted != 1 {
		t.Fatalf("%+v", res)
	}
	if _, res := post(t, h, "a\n"); res.Accepted != 1 {
		t.Fatalf("second request with dedup off: %+v", res)
	}
}

func TestInputHygiene(t *testing.T) {
	h, tr := newHandler(t, Options{})
	// Lone CR, CRLF and LF all end lines; NUL bytes and bare JSON values are dead letters.
	body := "first\rsecond\r\nthird\nnul\x00byte\n42\n\"a string\"\ntrue\nnull\n-12.5e3\n\rlast"
	rec, res := post(t, h, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got []string
	for _, q := range queries(t, tr) {
		got = append(got, q.Question)
	}
	sort.Strings(got)
	if strings.Join(got, "|") != "first|last|second|third" {
		t.Errorf("questions %q, want first, last, second, third", got)
	}
	want := map[string]string{ReasonNUL: "4", schemas.ReasonNotObject: "5-9"}
	if counts(res) != [3]int{4, 0, 6} || fmt.Sprint(res.DeadLetteredLines) != fmt.Sprint(want) || res.Lines != 10 {
		t.Errorf("result %+v, want 4 accepted and dead letters %v (line 10 is blank)", res, want)
	}
	for _, d := range deadLetters(t, tr) {
		if d.Reason == ReasonNUL && string(d.Payload) != "nul\x00byte" {
			t.Errorf("NUL dead letter payload %q", d.Payload)
		}
	}
}

func TestGzipBodies(t *testing.T) {
	h, tr := newHandler(t, Options{Limits: Limits{MaxBody: 4096}})
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = io.WriteString(w, s)
		_ = w.Close()
		return b.String()
	}
	rec, res := post(t, h, gz("zipped one\nzipped two\n"), "Content-Encoding", "gzip")
	if rec.Code != http.StatusOK || res.Accepted != 2 {
		t.Fatalf("gzip with Content-Encoding: %d %+v", rec.Code, res)
	}
	if rec, _ := post(t, h, gz("zipped three\n")); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("gzip without Content-Encoding: %d, want 415", rec.Code)
	}
	if rec, _ := post(t, h, "plain\n", "Content-Encoding", "br"); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("Content-Encoding br: %d, want 415", rec.Code)
	}
	if rec, _ := post(t, h, "not gzip\n", "Content-Encoding", "gzip"); rec.Code != http.StatusBadRequest {
		t.Fatalf("Content-Encoding gzip over plain text: %d, want 400", rec.Code)
	}
	full := gz("zipped four\nzipped five\n")
	if rec, _ := post(t, h, full[:len(full)-6], "Content-Encoding", "gzip"); rec.Code != http.StatusBadRequest {
		t.Fatalf("truncated gzip: %d, want 400", rec.Code)
	}
	// A small compressed body that inflates beyond MaxBody (a zip bomb) is 413.
	if rec, _ := post(t, h, gz(strings.Repeat("bomb\n", 10000)), "Content-Encoding", "gzip"); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("inflating gzip: %d, want 413", rec.Code)
	}
	if n := len(tr.Messages(qTopic)); n != 2 {
		t.Fatalf("%d queries published, want 2", n)
	}
}

// failPublisher fails every publish with an error that names internal addresses.
type failPublisher struct{}

func (failPublisher) Publish(context.Context, string, ...streams.Message) error {
	return errors.New("dial tcp 10.1.2.3:9092: connection refused")
}

func TestNoInternalErrorTextInAnswers(t *testing.T) {
	h, _ := newHandler(t, Options{Publisher: failPublisher{}, Ready: func(ctx context.Context) error { return failPublisher{}.Publish(ctx, "") }})
	rec, _ := post(t, h, "a question\n")
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "10.1.2.3") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("503 %d %q (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	if rr.Code != http.StatusServiceUnavailable || strings.Contains(rr.Body.String(), "10.1.2.3") {
		t.Fatalf("/readyz %d %q", rr.Code, rr.Body)
	}
	// A body that fails to read: the cause stays in the log.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/queries", io.MultiReader(strings.NewReader("x\n"), errReader{}))
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusBadRequest || strings.Contains(rr.Body.String(), "10.1.2.3") {
		t.Fatalf("broken body: %d %q", rr.Code, rr.Body)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read tcp 10.1.2.3:8080: reset") }

func TestPublishFailureIs503AndRetryIsNotDuplicate(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	pub := &switchPublisher{fail: true, next: tr}
	h, _ := newHandler(t, Options{Publisher: pub})
	rec, _ := post(t, h, "who wrote hamlet\n{bad\n")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	pub.set(false)
	rec, res := post(t, h, "who wrote hamlet\n{bad\n")
	if rec.Code != http.StatusOK || counts(res) != [3]int{1, 0, 1} {
		t.Fatalf("retry: %d %+v (a failed request must not count as seen)", rec.Code, res)
	}
	if len(tr.Messages(qTopic)) != 1 || len(tr.Messages(dTopic)) != 1 {
		t.Fatalf("%d queries, %d dead letters, want 1 and 1", len(tr.Messages(qTopic)), len(tr.Messages(dTopic)))
	}
	// A retry after success publishes nothing more, and says where each line is.
	rec, res = post(t, h, "who wrote hamlet\n{bad\n")
	if rec.Code != http.StatusOK || counts(res) != [3]int{0, 1, 1} || len(tr.Messages(qTopic)) != 1 || len(tr.Messages(dTopic)) != 1 {
		t.Fatalf("second retry: %d %+v", rec.Code, res)
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

// gatePublisher hands every publish to the test: the test decides when and how it ends.
type gatePublisher struct {
	next  streams.Publisher
	calls chan *gateCall
}

type gateCall struct {
	topic string
	msgs  []streams.Message
	end   chan error // nil: publish to next
}

func newGatePublisher(next streams.Publisher) *gatePublisher {
	return &gatePublisher{next: next, calls: make(chan *gateCall, 64)}
}

func (p *gatePublisher) Publish(ctx context.Context, topic string, msgs ...streams.Message) error {
	c := &gateCall{topic: topic, msgs: msgs, end: make(chan error, 1)}
	p.calls <- c
	select {
	case err := <-c.end:
		if err != nil {
			return err
		}
		return p.next.Publish(ctx, topic, msgs...)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRetryJoinsPublishInFlight: a request times out while its publish hangs (a frozen
// broker); the client retries; the retry waits for the publish instead of publishing again,
// and each line lands once.
func TestRetryJoinsPublishInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := memory.New()
		defer tr.Close()
		pub := newGatePublisher(tr)
		h, _ := newHandler(t, Options{Publisher: pub, Limits: Limits{RequestTimeout: 5 * time.Second}})
		body := "q1\nq2\nq3\n"
		var rec *httptest.ResponseRecorder
		first := make(chan struct{})
		go func() { rec, _ = post(t, h, body); close(first) }()
		call := <-pub.calls // the publish is under way, and stays so
		<-first
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("first request: %d, want 503 after the request timeout", rec.Code)
		}
		var res Result
		done := make(chan struct{})
		go func() { rec, res = post(t, h, body); close(done) }()
		synctest.Wait() // the retry is waiting for the publish in flight
		select {
		case c := <-pub.calls:
			t.Fatalf("the retry published %d messages again", len(c.msgs))
		default:
		}
		call.end <- nil // the broker thaws
		<-done
		if rec.Code != http.StatusOK || counts(res) != [3]int{0, 3, 0} {
			t.Fatalf("retry: %d %+v, want 200 with the 3 lines as duplicates", rec.Code, res)
		}
		if n := len(tr.Messages(qTopic)); n != 3 {
			t.Fatalf("%d messages on the topic, want 3", n)
		}
	})
}

// TestRaceDuplicateWhilePublishingThenFailure is the race of issue 15: request B sends a line
// that request A is still publishing; A's publish then fails. B must publish the line itself.
func TestRaceDuplicateWhilePublishingThenFailure(t *testing.T) {
	for _, aFails := range []bool{true, false} {
		t.Run(fmt.Sprintf("A fails %v", aFails), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := memory.New()
				defer tr.Close()
				pub := newGatePublisher(tr)
				h, _ := newHandler(t, Options{Publisher: pub})
				var recA, recB *httptest.ResponseRecorder
				var resB Result
				doneA, doneB := make(chan struct{}), make(chan struct{})
				go func() { recA, _ = post(t, h, "shared question\nonly in A\n"); close(doneA) }()
				callA := <-pub.calls
				go func() { recB, resB = post(t, h, "Shared  Question?\nonly in B\n"); close(doneB) }()
				callB := <-pub.calls // B publishes its own line at once...
				if len(callB.msgs) != 1 {
					t.Fatalf("B published %d messages first, want only its own line", len(callB.msgs))
				}
				callB.end <- nil
				synctest.Wait() // ...and waits for A's publish of the shared one
				if aFails {
					callA.end <- errors.New("broker gone")
					retry := <-pub.calls // B takes the shared line over
					if len(retry.msgs) != 1 {
						t.Fatalf("B republished %d messages, want 1", len(retry.msgs))
					}
					retry.end <- nil
				} else {
					callA.end <- nil
				}
				<-doneA
				<-doneB
				wantA := http.StatusOK
				wantB := [3]int{1, 1, 0}
				if aFails {
					wantA, wantB = http.StatusServiceUnavailable, [3]int{2, 0, 0}
				}
				if recA.Code != wantA || recB.Code != http.StatusOK || counts(resB) != wantB {
					t.Fatalf("A %d (want %d), B %d %+v (want %v)", recA.Code, wantA, recB.Code, resB, wantB)
				}
				perQuestion := map[string]int{}
				for _, q := range queries(t, tr) {
					perQuestion[NormalizeQuestion(q.Question)]++
				}
				if perQuestion["shared question"] != 1 || perQuestion["only in b"] != 1 {
					t.Fatalf("topic holds %v, want the shared question once", perQuestion)
				}
			})
		})
	}
}

func TestBackpressure429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := memory.New()
		defer tr.Close()
		pub := newGatePublisher(tr)
		h, _ := newHandler(t, Options{Publisher: pub, Limits: tightLimits(Limits{RetryAfter: 2 * time.Second})})
		var wg sync.WaitGroup
		codes := make(chan int, 2)
		for i := range 2 {
			wg.Go(func() {
				rec, _ := post(t, h, fmt.Sprintf("blocked question %d\n", i))
				codes <- rec.Code
			})
		}
		calls := []*gateCall{<-pub.calls, <-pub.calls} // both hold their memory while publishing
		rec, _ := post(t, h, "one more\n")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q, want 429 and 2", rec.Code, rec.Header().Get("Retry-After"))
		}
		for _, c := range calls {
			c.end <- nil
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != http.StatusOK {
				t.Errorf("in-flight request finished with %d", c)
			}
		}
		// The 429-ed question was not claimed: it is accepted now.
		done := make(chan struct{})
		var res Result
		go func() { rec, res = post(t, h, "one more\n"); close(done) }()
		(<-pub.calls).end <- nil
		<-done
		if rec.Code != http.StatusOK || res.Accepted != 1 {
			t.Fatalf("429-ed question later: %d %+v", rec.Code, res)
		}
	})
}

// tightLimits makes the in-flight memory just large enough for one request with a line of the
// maximum size: two small requests fill it.
func tightLimits(l Limits) Limits {
	l.MaxLineBytes, l.MaxMessageBytes, l.DeadLetterPayload = 1024, 8<<10, 256
	l.InflightMemory = l.withDefaults().largestRequest()
	return l
}

// A publish that outlives its request keeps its memory charged.
func TestTimedOutPublishKeepsItsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := memory.New()
		defer tr.Close()
		pub := newGatePublisher(tr)
		h, _ := newHandler(t, Options{Publisher: pub, Limits: tightLimits(Limits{RequestTimeout: time.Second})})
		var b strings.Builder
		for i := range 60 {
			fmt.Fprintf(&b, "slow question %d\n", i)
		}
		var rec *httptest.ResponseRecorder
		done := make(chan struct{})
		go func() { rec, _ = post(t, h, b.String()); close(done) }()
		call := <-pub.calls
		<-done
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("timed-out request: %d, want 503", rec.Code)
		}
		if rec, _ := post(t, h, "another\n"); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("while the publish runs: %d, want 429", rec.Code)
		}
		held := h.mem.used.Load()
		call.end <- nil
		synctest.Wait()
		if n := h.mem.used.Load(); n != 0 {
			t.Fatalf("%d bytes still charged after every request and publish ended (%d while publishing)", n, held)
		}
		go func() { (<-pub.calls).end <- nil }()
		if rec, _ := post(t, h, "another\n"); rec.Code != http.StatusOK {
			t.Fatalf("after the publish ended: %d, want 200", rec.Code)
		}
	})
}

func TestReadiness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var probeErr error
		probes := 0
		h, _ := newHandler(t, Options{Ready: func(context.Context) error { mu.Lock(); defer mu.Unlock(); probes++; return probeErr }})
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
		for range 100 { // within the second: the cached answer, one probe
			_ = get()
		}
		if probes != 1 {
			t.Fatalf("%d probes for 101 calls within a second, want 1", probes)
		}
		time.Sleep(1100 * time.Millisecond)
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
	})
}

func TestServeGracefulShutdown(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	pub := newGatePublisher(tr)
	h, _ := newHandler(t, Options{Publisher: pub, Limits: Limits{RequestTimeout: 100 * time.Millisecond}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, h, ServerOptions{DrainDelay: 300 * time.Millisecond, Grace: 10 * time.Second})
	}()
	url := "http://" + ln.Addr().String()
	httpPost := func(body string) int {
		resp, err := http.Post(url+"/v1/queries", "text/plain", strings.NewReader(body))
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A request whose publish outlives it (503), then shutdown begins.
	if c := httpPost("in flight\n"); c != http.StatusServiceUnavailable {
		t.Fatalf("request with a hanging publish: %d, want 503", c)
	}
	call := <-pub.calls
	cancel()
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the drain: %v %v, want 503", resp, err)
	}
	resp.Body.Close()
	// Still serving during the drain delay.
	go func() { (<-pub.calls).end <- nil }()
	if c := httpPost("during drain\n"); c != http.StatusOK {
		t.Fatalf("POST during the drain delay: %d, want 200", c)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v while a publish was running", err)
	case <-time.After(500 * time.Millisecond):
	}
	call.end <- nil // the publish ends: shutdown completes
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n := len(tr.Messages(qTopic)); n != 2 {
		t.Fatalf("%d queries published, want 2 (the detached publish finished during shutdown)", n)
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
	if _, err := New(Options{Publisher: failPublisher{}, QueriesTopic: "q", DeadLettersTopic: "d", Limits: Limits{MaxBody: -1}}); err == nil {
		t.Fatal("negative body limit accepted")
	}
	if _, err := New(Options{Publisher: failPublisher{}, QueriesTopic: "q", DeadLettersTopic: "d", Limits: Limits{MaxMessageBytes: 1000}}); err == nil {
		t.Fatal("a message limit too small for a bounded dead letter accepted")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestChargedMemoryCoversHeap: what a request charges to the in-flight memory covers what it
// really holds on the heap while its publish runs, for bodies of many short lines, of long
// lines and of dead letters.
func TestChargedMemoryCoversHeap(t *testing.T) {
	var short, long, bad strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&short, "is question %d short\n", i)
		fmt.Fprintf(&bad, "{broken %d\n", i)
	}
	for i := range 3 {
		fmt.Fprintf(&long, "%d%s\n", i, strings.Repeat("long words ", 30_000))
	}
	for name, body := range map[string]string{"short lines": short.String(), "long lines": long.String(), "dead letters": bad.String()} {
		t.Run(name, func(t *testing.T) {
			tr := memory.New()
			defer tr.Close()
			pub := newGatePublisher(tr)
			h, _ := newHandler(t, Options{Publisher: pub})
			before := heapAlloc()
			done := make(chan struct{})
			go func() { post(t, h, body); close(done) }()
			call := <-pub.calls
			held, charged := int64(heapAlloc())-int64(before), h.mem.used.Load()
			call.end <- nil
			if len(call.msgs) < 3 {
				(<-pub.calls).end <- nil // the dead letters went first; now the queries
			}
			<-done
			t.Logf("%d-byte body: %d bytes on the heap, %d charged", len(body), held, charged)
			if held > charged {
				t.Errorf("the request holds %d bytes, but charged only %d", held, charged)
			}
		})
	}
}
