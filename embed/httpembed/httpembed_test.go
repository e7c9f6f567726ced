package httpembed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/streams"
)

// vectorFor is the fake model: a deterministic 3-d vector derived from the text.
func vectorFor(s string) []float32 {
	return []float32{float32(len(s)), float32(strings.Count(s, "a")), 1}
}

type fakeServer struct {
	t          *testing.T
	mu         sync.Mutex
	batches    [][]string
	inFlight   atomic.Int32
	maxFlight  atomic.Int32
	failFirst  int // answer this many requests with failStatus
	failStatus int // status for the failures
	header     map[string]string
	delay      time.Duration
	reverse    bool // answer with data in reverse order
	calls      atomic.Int32
	lastAuth   atomic.Value
	lastModel  atomic.Value
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxFlight.Load()
		if cur <= m || f.maxFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f.lastAuth.Store(r.Header.Get("Authorization"))
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.lastModel.Store(req.Model)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if int(n) <= f.failFirst {
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.failStatus)
		_, _ = w.Write([]byte(`{"error":{"message":"simulated failure","type":"server_error"}}`))
		return
	}
	f.mu.Lock()
	f.batches = append(f.batches, req.Input)
	f.mu.Unlock()
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	items := make([]item, len(req.Input))
	for i, s := range req.Input {
		items[i] = item{"embedding", i, vectorFor(s)}
	}
	if f.reverse {
		slices.Reverse(items)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": items, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1},
	})
}

func start(t *testing.T, f *fakeServer) *httptest.Server {
	f.t = t
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return s
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat("a", i%7) + strings.Repeat("b", i)
	}
	return out
}

func TestBatchingOrderAndConcurrency(t *testing.T) {
	f := &fakeServer{reverse: true, delay: 20 * time.Millisecond}
	s := start(t, f)
	c, err := New(Options{URL: s.URL, Model: "e5-small", APIKey: "k", BatchSize: 4, Concurrency: 2, Dim: 3,
		Prefixes: embed.Prefixes{Query: "query: ", Passage: "passage: "}})
	if err != nil {
		t.Fatal(err)
	}
	in := texts(23)
	got, err := c.Embed(t.Context(), in, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range in {
		if want := vectorFor("passage: " + s); !slices.Equal(got[i], want) {
			t.Fatalf("text %d: got %v want %v (out-of-order index not honoured?)", i, got[i], want)
		}
	}
	if len(f.batches) != 6 {
		t.Errorf("%d requests, want 6 batches of <= 4", len(f.batches))
	}
	for _, b := range f.batches {
		if len(b) > 4 {
			t.Errorf("batch of %d > BatchSize 4", len(b))
		}
	}
	if m := f.maxFlight.Load(); m > 2 || m < 1 {
		t.Errorf("max requests in flight %d, want <= 2", m)
	}
	if a := f.lastAuth.Load(); a != "Bearer k" {
		t.Errorf("Authorization %q", a)
	}
	if m := f.lastModel.Load(); m != "e5-small" {
		t.Errorf("model %q", m)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	f := &fakeServer{failFirst: 2, failStatus: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "7"}}
	s := start(t, f)
	c, err := New(Options{URL: s.URL + "/v1", Dim: 3})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	got, err := c.Embed(t.Context(), []string{"abc"}, embed.Query)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[0], vectorFor("abc")) {
		t.Fatalf("got %v", got[0])
	}
	if !slices.Equal(waits, []time.Duration{7 * time.Second, 7 * time.Second}) {
		t.Fatalf("waits %v, want two Retry-After waits of 7s", waits)
	}
}

func TestRetryBackoffOn5xx(t *testing.T) {
	f := &fakeServer{failFirst: 3, failStatus: http.StatusServiceUnavailable}
	s := start(t, f)
	c, err := New(Options{URL: s.URL + "/v1/embeddings", Dim: 3, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if _, err := c.Embed(t.Context(), []string{"x"}, embed.Query); err != nil {
		t.Fatal(err)
	}
	caps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if len(waits) != 3 {
		t.Fatalf("waits %v, want 3", waits)
	}
	for i, w := range waits {
		if w < caps[i]/2 || w > caps[i] {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, w, caps[i]/2, caps[i])
		}
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	f := &fakeServer{failFirst: 100, failStatus: http.StatusInternalServerError}
	s := start(t, f)
	c, _ := New(Options{URL: s.URL, Dim: 3, MaxRetries: 2})
	c.sleep = func(context.Context, time.Duration) error { return nil }
	_, err := c.Embed(t.Context(), []string{"x"}, embed.Query)
	if err == nil || !IsStatus(err, 500) || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3 (1 + 2 retries)", n)
	}
	if streams.IsPermanent(err) {
		t.Error("exhausted 5xx retries marked permanent; the runner may retry later")
	}
}

func TestClientErrorIsPermanentAndNotRetried(t *testing.T) {
	f := &fakeServer{failFirst: 100, failStatus: http.StatusUnauthorized}
	s := start(t, f)
	c, _ := New(Options{URL: s.URL, Dim: 3})
	c.sleep = func(context.Context, time.Duration) error { t.Error("slept before retrying a 401"); return nil }
	_, err := c.Embed(t.Context(), []string{"x"}, embed.Query)
	if err == nil || !IsStatus(err, 401) || !streams.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent 401", err)
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "simulated failure") {
		t.Errorf("error %q lacks status or server message", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestTimeoutRetriesThenFails(t *testing.T) {
	f := &fakeServer{delay: 2 * time.Second}
	s := start(t, f)
	c, _ := New(Options{URL: s.URL, Dim: 3, Timeout: 50 * time.Millisecond, MaxRetries: 1})
	c.sleep = func(context.Context, time.Duration) error { return nil }
	startT := time.Now()
	_, err := c.Embed(t.Context(), []string{"x"}, embed.Query)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if el := time.Since(startT); el > time.Second {
		t.Errorf("took %v; the per-request timeout did not apply", el)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestOpenProbesDimAndNormalizes(t *testing.T) {
	s := start(t, &fakeServer{})
	c, err := Open(t.Context(), Options{URL: s.URL, Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dim() != 3 {
		t.Fatalf("Dim = %d, want 3", c.Dim())
	}
	v, err := c.Embed(t.Context(), []string{"aaa"}, embed.Query)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, x := range v[0] {
		n += float64(x * x)
	}
	if n < 0.9999 || n > 1.0001 {
		t.Errorf("norm^2 %v", n)
	}
}

func TestBadResponses(t *testing.T) {
	for name, body := range map[string]string{
		"count":     `{"data":[]}`,
		"dup index": `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`,
		"range":     `{"data":[{"index":5,"embedding":[1]},{"index":0,"embedding":[2]}]}`,
		"json":      `not json`,
	} {
		t.Run(name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			defer s.Close()
			c, _ := New(Options{URL: s.URL, Dim: 1})
			if _, err := c.Embed(t.Context(), []string{"a", "b"}, embed.Query); err == nil || !streams.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
		})
	}
	if _, err := New(Options{URL: "localhost:8080"}); err == nil {
		t.Fatal("URL without scheme accepted")
	}
}

func BenchmarkEmbed(b *testing.B) {
	s := httptest.NewServer(&fakeServer{})
	defer s.Close()
	c, _ := New(Options{URL: s.URL, Dim: 3, BatchSize: 32, Concurrency: 4})
	batch := texts(256)
	for b.Loop() {
		if _, err := c.Embed(b.Context(), batch, embed.Passage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "texts/s")
}

// TestBatchOverServerLimitIsSplit: TEI answers a batch larger than --max-client-batch-size with
// 422 {"message": "batch size N > maximum allowed batch size M", "type": "validation"}
// (text-embeddings-inference router/src/http/server.rs openai_embed; ErrorType::Validation ->
// 422). The client splits the batch, keeps the size that passed, and loses no text.
func TestBatchOverServerLimitIsSplit(t *testing.T) {
	const limit = 8
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		sizes = append(sizes, len(req.Input))
		mu.Unlock()
		if len(req.Input) > limit {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"message":"batch size ` + strconv.Itoa(len(req.Input)) + ` > maximum allowed batch size 8","code":422,"type":"validation"}`))
			return
		}
		var data []map[string]any
		for i, s := range req.Input {
			data = append(data, map[string]any{"index": i, "embedding": vectorFor(s)})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Dim: 3, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 70)
	for i := range texts {
		texts[i] = strings.Repeat("a", i)
	}
	vecs, err := c.Embed(t.Context(), texts, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if !slices.Equal(v, vectorFor(texts[i])) {
			t.Fatalf("text %d: %v", i, v)
		}
	}
	rejected := 0
	for _, n := range sizes {
		if n > limit {
			rejected++
		}
	}
	// 70 texts in batches of 32: the first 32 is rejected once, split to 16 (rejected), 8;
	// from then on batches are cut to 8 before sending.
	if sizes[0] != 32 || rejected > 3 {
		t.Errorf("request sizes %v: want the default 32 first and few rejections", sizes)
	}
}
