package ingest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/textnorm"
)

// StageName is the stage recorded in the dead letters of bad lines.
const StageName = "ingest"

// Options configures a Handler. Publisher, QueriesTopic and DeadLettersTopic are required.
type Options struct {
	Publisher        streams.Publisher
	QueriesTopic     string
	DeadLettersTopic string

	// Token, when set, is the bearer token every POST must carry (Authorization: Bearer T).
	Token string
	// MaxBody is the request body limit in bytes (default 1 MiB); larger bodies get 413.
	MaxBody int64
	// MaxLineBytes bounds one line (default schemas.DefaultMaxLine); longer lines are
	// dead-lettered with reason line_too_long.
	MaxLineBytes int
	// DedupWindow is how long a normalized question is remembered (default 10m; negative
	// disables de-duplication). DedupCapacity bounds the remembered questions (default 100,000).
	DedupWindow   time.Duration
	DedupCapacity int
	// MaxInflight is how many requests may publish at once (default 64); more get 429.
	MaxInflight int
	// RetryAfter is the Retry-After sent with 429 (default 1s, rounded up to whole seconds).
	RetryAfter time.Duration
	// PublishTimeout bounds the publishes of one request (default 30s).
	PublishTimeout time.Duration
	// Ready is the readiness probe of /readyz (nil: always ready).
	Ready func(ctx context.Context) error
	// Source is set on queries that carry none (default "http").
	Source string
	// Registerer receives the ingest metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (o *Options) validate() error {
	if o.Publisher == nil {
		return errors.New("ingest: a publisher is required")
	}
	if o.QueriesTopic == "" || o.DeadLettersTopic == "" {
		return errors.New("ingest: queries and dead-letter topics are required")
	}
	if o.MaxBody < 0 || o.MaxInflight < 0 || o.MaxLineBytes < 0 || o.DedupCapacity < 0 {
		return errors.New("ingest: limits must not be negative")
	}
	if o.MaxBody == 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = schemas.DefaultMaxLine
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 10 * time.Minute
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = 64
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 30 * time.Second
	}
	if o.Source == "" {
		o.Source = "http"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Result is the JSON answer to an accepted request.
type Result struct {
	Accepted     int `json:"accepted"`
	Duplicates   int `json:"duplicates"`
	DeadLettered int `json:"dead_lettered"`
}

// Handler serves POST /v1/queries, /healthz and /readyz. Safe for concurrent use.
type Handler struct {
	o        Options
	dedup    *Dedup
	slots    chan struct{}
	mux      *http.ServeMux
	stopping atomic.Bool
	reqSeq   atomic.Uint64
	lines    *prometheus.CounterVec
	requests *prometheus.CounterVec
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	h := &Handler{o: o, slots: make(chan struct{}, o.MaxInflight), mux: http.NewServeMux()}
	if o.DedupWindow > 0 {
		h.dedup = NewDedup(o.DedupWindow, o.DedupCapacity)
	}
	h.lines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lsrflow_ingest_lines_total", Help: "Query-log lines received over HTTP, by result.",
	}, []string{"result"})
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lsrflow_ingest_requests_total", Help: "HTTP ingest requests, by status code.",
	}, []string{"code"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(h.lines); err != nil {
			return nil, fmt.Errorf("ingest: registering metrics: %w", err)
		}
		if err := o.Registerer.Register(h.requests); err != nil {
			return nil, fmt.Errorf("ingest: registering metrics: %w", err)
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

// Dedup returns the handler's de-duplication set (nil when disabled).
func (h *Handler) Dedup() *Dedup { return h.dedup }

// SetStopping makes /readyz answer 503 (called when shutdown begins, so that load balancers
// stop sending traffic while in-flight requests finish).
func (h *Handler) SetStopping() { h.stopping.Store(true) }

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if h.o.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := h.o.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
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

func (h *Handler) postQueries(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "POST query-log lines to /v1/queries")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lsrflow"`)
		h.fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if r.ContentLength > h.o.MaxBody {
		h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, h.o.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds the limit of %d bytes", h.o.MaxBody))
			return
		}
		h.fail(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	// Backpressure: a slot per publishing request; none free means the transport is behind.
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int((h.o.RetryAfter+time.Second-1)/time.Second)))
		h.fail(w, http.StatusTooManyRequests, "too many requests in flight; retry later")
		return
	}
	res, err := h.publish(r.Context(), body)
	if err != nil {
		h.o.Log.Warn("ingest publish failed", "err", err)
		h.fail(w, http.StatusServiceUnavailable, "publishing failed: "+err.Error())
		return
	}
	h.lines.WithLabelValues("accepted").Add(float64(res.Accepted))
	h.lines.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	h.lines.WithLabelValues("dead_lettered").Add(float64(res.DeadLettered))
	h.requests.WithLabelValues("200").Inc()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// publish decodes body's lines, publishes dead letters then queries, and returns the counts.
// On error every question it reserved in the de-duplication set is forgotten again.
func (h *Handler) publish(ctx context.Context, body []byte) (Result, error) {
	var res Result
	now := h.o.Now()
	reqID := fmt.Sprintf("http:%d-%d", now.UnixNano(), h.reqSeq.Add(1))
	var queries, dead []streams.Message
	var reserved []string
	lr := schemas.NewLineReader(bytes.NewReader(body), h.o.MaxLineBytes)
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, err // a bytes.Reader does not fail; kept for safety
		}
		q, dup, derr := h.decode(line, now)
		switch {
		case dup:
			res.Duplicates++
			continue
		case derr == nil:
			reserved = append(reserved, q.dedupKey)
			queries = append(queries, q.msg)
			res.Accepted++
			continue
		}
		d := schemas.DeadLetter{
			SchemaVersion: schemas.DeadLetterVersion, Stage: StageName, Reason: streams.ReasonOf(derr),
			Error: derr.Error(), Topic: "http", Offset: int64(line.Number),
			Key: reqID + ":" + strconv.Itoa(line.Number), Payload: line.Bytes, Time: now.UTC(),
		}
		b, err := schemas.Encode(d)
		if err != nil {
			h.dedup.Forget(reserved...)
			return Result{}, err
		}
		dead = append(dead, streams.Message{Key: []byte(d.Key), Value: b})
		res.DeadLettered++
	}
	ctx, cancel := context.WithTimeout(ctx, h.o.PublishTimeout)
	defer cancel()
	if len(dead) > 0 {
		if err := h.o.Publisher.Publish(ctx, h.o.DeadLettersTopic, dead...); err != nil {
			h.dedup.Forget(reserved...)
			return Result{}, fmt.Errorf("dead letters: %w", err)
		}
	}
	if len(queries) > 0 {
		if err := h.o.Publisher.Publish(ctx, h.o.QueriesTopic, queries...); err != nil {
			h.dedup.Forget(reserved...)
			return Result{}, fmt.Errorf("queries: %w", err)
		}
	}
	return res, nil
}

type decodedLine struct {
	msg      streams.Message
	dedupKey string
}

// decode turns one line into a query message, reserving its normalized question in the
// de-duplication set; dup reports a question already seen within the window.
func (h *Handler) decode(line schemas.Line, now time.Time) (decodedLine, bool, error) {
	if line.Err != nil {
		return decodedLine{}, false, line.Err
	}
	q, err := schemas.DecodeLogLine(line.Bytes)
	if err != nil {
		return decodedLine{}, false, err
	}
	if q.Source == "" || q.Source == "log" {
		q.Source = h.o.Source
	}
	if q.Time.IsZero() {
		q.Time = now.UTC()
	}
	b, err := schemas.Encode(q)
	if err != nil {
		return decodedLine{}, false, streams.Permanent(schemas.ReasonInvalid, err)
	}
	key := textnorm.Normalize(q.Question)
	if key == "" {
		key = strings.TrimSpace(q.Question)
	}
	if !h.dedup.Reserve(key, now) {
		return decodedLine{}, true, nil
	}
	return decodedLine{msg: streams.Message{Key: []byte(q.ID), Value: b}, dedupKey: key}, false, nil
}

// Serve serves h on ln until ctx is done, then marks the handler not ready and shuts the
// server down gracefully: in-flight requests get up to grace to finish their publishes.
func Serve(ctx context.Context, ln net.Listener, h *Handler, grace time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	h.SetStopping()
	if grace <= 0 {
		grace = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("ingest: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
