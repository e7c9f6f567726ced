package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/streams"
)

// StageName is the stage recorded in the dead letters of bad lines.
const StageName = "ingest"

// Handler serves POST /v1/queries, /healthz and /readyz. Safe for concurrent use.
type Handler struct {
	o      Options
	ledger *ledger
	mem    *memGate
	mux    *http.ServeMux

	// base is the parent of every publish: not a request's context, so publishes outlive the
	// requests that started them; cancelled by Close.
	base       context.Context
	cancelBase context.CancelFunc
	flights    sync.WaitGroup

	stopping atomic.Bool
	ready    readyCache

	lines           *prometheus.CounterVec
	requests        *prometheus.CounterVec
	publishFailures prometheus.Counter
}

// New returns a Handler. Call Close when done with it.
func New(o Options) (*Handler, error) {
	if o.Publisher == nil {
		return nil, errors.New("ingest: a publisher is required")
	}
	if o.QueriesTopic == "" || o.DeadLettersTopic == "" {
		return nil, errors.New("ingest: queries and dead-letter topics are required")
	}
	if err := o.Limits.Validate(); err != nil {
		return nil, err
	}
	o.Limits = o.Limits.withDefaults()
	if o.Source == "" {
		o.Source = "http"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, mem: &memGate{limit: o.Limits.InflightMemory}, mux: http.NewServeMux(),
		ledger: newLedger(o.Limits.DedupWindow, o.Limits.DedupMemory)}
	h.base, h.cancelBase = context.WithCancel(context.Background())
	h.ready.probe = o.Ready
	h.lines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lsrflow_ingest_lines_total", Help: "Query-log lines received over HTTP and answered 200, by result.",
	}, []string{"result"})
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lsrflow_ingest_requests_total", Help: "HTTP ingest requests, by status code.",
	}, []string{"code"})
	h.publishFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lsrflow_ingest_publish_failures_total", Help: "Publishes that failed or timed out (their lines are free to be retried).",
	})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{h.lines, h.requests, h.publishFailures,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lsrflow_ingest_dedup_keys", Help: "Published lines remembered for de-duplication."},
				func() float64 { n, _, _ := h.ledger.stats(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lsrflow_ingest_pending_keys", Help: "Lines being published right now."},
				func() float64 { _, n, _ := h.ledger.stats(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lsrflow_ingest_dedup_evicted_total", Help: "Remembered lines forgotten before their window ended (dedup memory full)."},
				func() float64 { _, _, n := h.ledger.stats(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lsrflow_ingest_inflight_bytes", Help: "Memory charged by requests and their publishes (the limit is the in-flight memory)."},
				func() float64 { return float64(h.mem.used.Load()) }),
		} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: registering metrics: %w", err)
			}
		}
	}
	h.mux.HandleFunc("/v1/queries", h.postQueries)
	h.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("/readyz", h.readyz)
	return h, nil
}

// ServeHTTP routes to the endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Handle mounts another endpoint (e.g. /metrics) beside the ingest ones.
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// SetStopping makes /readyz answer 503 (called when shutdown begins, so that load balancers
// stop sending traffic while in-flight requests finish).
func (h *Handler) SetStopping() { h.stopping.Store(true) }

// Wait blocks until every publish has ended or ctx is done.
func (h *Handler) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.flights.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels the publishes still running (their lines are then free to be retried).
func (h *Handler) Close() { h.cancelBase() }

// readyCache shares one readiness probe per second among all /readyz callers.
type readyCache struct {
	probe func(ctx context.Context) error
	mu    sync.Mutex
	at    time.Time
	err   error
}

func (c *readyCache) check(ctx context.Context, log *slog.Logger) error {
	if c.probe == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < time.Second {
		return c.err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := c.probe(ctx)
	if err != nil && c.err == nil {
		log.Warn("ingest not ready", "err", err)
	}
	c.at, c.err = time.Now(), err
	return err
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := h.ready.check(r.Context(), h.o.Log); err != nil {
		// The cause (broker addresses, errors) goes to the log only.
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// answer writes a JSON body with code.
func (h *Handler) answer(w http.ResponseWriter, code int, v any) {
	h.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.answer(w, code, map[string]string{"error": msg})
}

// reject answers a request whose body will not be read and closes the connection after the
// answer, giving a client that is still sending at most a second to finish: an unread or
// trickling body must not keep the connection (and its memory) busy.
func (h *Handler) reject(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
	h.fail(w, code, msg)
}

// busy answers 429: the in-flight memory is taken (publishes are behind, or many requests are
// being read). Nothing of the request was published.
func (h *Handler) busy(w http.ResponseWriter) {
	h.retryAfter(w)
	h.reject(w, http.StatusTooManyRequests, "the server is busy with other requests; retry later")
}

func (h *Handler) retryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int((h.o.Limits.RetryAfter+time.Second-1)/time.Second)))
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.o.Token == "" {
		return true
	}
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(auth[len(prefix):])), []byte(h.o.Token)) == 1
}

// requestError is a request refused before anything was published.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func (h *Handler) postQueries(w http.ResponseWriter, r *http.Request) {
	lim := h.o.Limits
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, http.StatusMethodNotAllowed, "POST query-log lines to /v1/queries")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lsrflow"`)
		h.reject(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		h.reject(w, http.StatusUnsupportedMediaType, "Content-Encoding must be gzip or absent")
		return
	}
	if r.ContentLength > lim.MaxBody {
		h.reject(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, lim.MaxBody))
		return
	}
	// Memory is charged before the body is read, and as it is read: reading and decoding is
	// what costs memory.
	acct := newAccount(h.mem)
	defer acct.drop()
	fixed := int64(requestFixedBytes)
	if gz {
		fixed += gzipBytes
	}
	if !acct.charge(fixed) {
		h.busy(w)
		return
	}
	markReadingBody(r.Context(), true)
	lines, err := h.readLines(w, r, gz, acct)
	markReadingBody(r.Context(), false)
	if err != nil {
		var re *requestError
		if errors.Is(err, errBusy) {
			h.busy(w)
			return
		}
		if !errors.As(err, &re) {
			h.o.Log.Info("ingest: reading a request body failed", "err", err)
			re = &requestError{code: http.StatusBadRequest, msg: "the request body could not be read"}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				re.code = http.StatusRequestTimeout
			}
		}
		h.reject(w, re.code, re.msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lim.RequestTimeout)
	defer cancel()
	if !h.resolve(ctx, lines, acct) {
		h.retryAfter(w)
		h.fail(w, http.StatusServiceUnavailable, "not every line is confirmed published yet; retry the same request (lines already published are not published again)")
		return
	}
	res := buildResult(lines)
	h.lines.WithLabelValues("accepted").Add(float64(res.Accepted))
	h.lines.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	h.lines.WithLabelValues("dead_lettered").Add(float64(res.DeadLettered))
	h.answer(w, http.StatusOK, res)
}

var (
	// errBodyTooLarge marks a body beyond MaxBody (after decoding).
	errBodyTooLarge = errors.New("ingest: body too large")
	// errBusy marks a request that found no room in the in-flight memory.
	errBusy = errors.New("ingest: in-flight memory exhausted")
)

// limitedReader fails with errBodyTooLarge past n bytes (io.LimitReader would end silently).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// readLines reads and decodes the body's lines within the request's limits.
func (h *Handler) readLines(w http.ResponseWriter, r *http.Request, gz bool, acct *account) ([]reqLine, error) {
	lim := h.o.Limits
	tooLarge := &requestError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body exceeds the limit of %d bytes", lim.MaxBody)}
	var body io.Reader = http.MaxBytesReader(w, r.Body, lim.MaxBody)
	br := bufio.NewReaderSize(body, 4096)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, wrapBodyErr(err, tooLarge)
	}
	isGzip := bytes.Equal(head, []byte{0x1f, 0x8b})
	switch {
	case gz:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &requestError{code: http.StatusBadRequest, msg: "Content-Encoding is gzip but the body is not gzip data"}
		}
		defer zr.Close()
		body = &limitedReader{r: zr, n: lim.MaxBody}
	case isGzip:
		return nil, &requestError{code: http.StatusUnsupportedMediaType, msg: "the body is gzip-compressed: send it with Content-Encoding: gzip"}
	default:
		body = br
	}
	now := h.o.Now()
	sp := newLineSplitter(body, lim.MaxLineBytes, lim.DeadLetterPayload)
	sp.grow = func(n int) bool { return acct.charge(2 * int64(n)) }
	var lines []reqLine
	first := map[lineKey]int{}
	budget := lim.RequestBudget
	for {
		l, err := sp.next()
		if errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err != nil {
			if gz && !errors.Is(err, errBodyTooLarge) && !isBodyLimit(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, &requestError{code: http.StatusBadRequest, msg: "the gzip body is corrupt or truncated"}
			}
			return nil, wrapBodyErr(err, tooLarge)
		}
		if len(lines) == lim.MaxLines {
			return nil, &requestError{code: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("more than %d lines in one request; split it", lim.MaxLines)}
		}
		rl := h.decodeLine(l, now)
		cost := int64(perLineBytes)
		if j, seen := first[rl.key]; seen {
			rl.same, rl.msg = j, streams.Message{}
		} else {
			first[rl.key] = len(lines)
			rl.same = -1
			size := int64(len(rl.msg.Key) + len(rl.msg.Value))
			budget -= size
			cost += 2 * size
		}
		if budget < 0 {
			return nil, &requestError{code: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("the request would publish more than %d bytes; split it", lim.RequestBudget)}
		}
		if !acct.charge(cost) {
			return nil, errBusy
		}
		lines = append(lines, rl)
	}
}

func isBodyLimit(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func wrapBodyErr(err error, tooLarge *requestError) error {
	if errors.Is(err, errBodyTooLarge) || isBodyLimit(err) {
		return tooLarge
	}
	return err
}

// resolve publishes or finds published every line of a request. It returns true when every
// line's outcome is settled (accepted, duplicate or dead-lettered, all acknowledged), false
// when ctx ended first or a publish failed.
func (h *Handler) resolve(ctx context.Context, lines []reqLine, acct *account) bool {
	var todo []int
	for i := range lines {
		if lines[i].same < 0 {
			todo = append(todo, i)
		}
	}
	for len(todo) > 0 {
		keys := make([]lineKey, len(todo))
		for i, idx := range todo {
			keys[i] = lines[idx].key
		}
		states := make([]claimState, len(todo))
		waits := make([]*flight, len(todo))
		f := newFlight()
		h.ledger.claim(keys, h.o.Now(), f, states, waits)
		var own []pendingLine
		var ownIdx []int
		others := map[*flight][]int{}
		for i, idx := range todo {
			l := &lines[idx]
			switch states[i] {
			case claimPublished:
				l.status = l.foundStatus()
			case claimOwn:
				own = append(own, pendingLine{key: l.key, dead: l.dead, msg: l.msg})
				ownIdx = append(ownIdx, idx)
			case claimWait:
				others[waits[i]] = append(others[waits[i]], idx)
			}
		}
		failed := false
		if len(own) > 0 {
			h.start(f, own, acct)
			select {
			case <-f.done:
			case <-ctx.Done():
				return false
			}
			for _, idx := range ownIdx {
				l := &lines[idx]
				if !f.ok(l.dead) {
					failed = true
					continue
				}
				l.status = statusAccepted
				if l.dead {
					l.status = statusDeadLettered
				}
			}
		}
		// Lines another request is publishing: theirs if it succeeds, ours again if it fails.
		todo = todo[:0]
		for other, idxs := range others {
			select {
			case <-other.done:
			case <-ctx.Done():
				return false
			}
			for _, idx := range idxs {
				if l := &lines[idx]; other.ok(l.dead) {
					l.status = l.foundStatus()
				} else {
					todo = append(todo, idx)
				}
			}
		}
		if failed {
			return false
		}
	}
	for i := range lines {
		if j := lines[i].same; j >= 0 {
			lines[i].status = statusDuplicate
			if lines[j].status == statusDeadLettered {
				lines[i].status = statusDeadLettered
			}
		}
	}
	return true
}
