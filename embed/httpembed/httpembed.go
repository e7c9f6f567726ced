package httpembed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/httperr"
	"github.com/lsrflow/lsrflow/streams"
)

// Options configure a Client.
type Options struct {
	// URL is the server: a base ("http://host:8080", ".../v1") or the full ".../v1/embeddings".
	URL string
	// Model is sent as "model" (TEI ignores it; vLLM, Ollama and OpenAI need it).
	Model string
	// APIKey is sent as "Authorization: Bearer KEY" when set.
	APIKey   string
	Prefixes embed.Prefixes
	// Normalize L2-normalizes the returned vectors.
	Normalize bool
	// Dim is the vector size; 0 asks the server once at Open.
	Dim int
	// BatchSize is the texts per request (default 32, TEI's default max_client_batch_size).
	// A batch the server rejects as too large (413, or 422 as TEI answers) is split in halves
	// and the smaller size kept for later batches.
	BatchSize int
	// Concurrency bounds requests in flight (default 4).
	Concurrency int
	// MaxRetries is the retries after the first attempt (default 5; negative: none).
	MaxRetries int
	// Timeout bounds one request (default 60s).
	Timeout time.Duration
	// Backoff is the first retry delay, doubled per retry up to MaxBackoff (defaults 250ms, 20s).
	Backoff, MaxBackoff time.Duration
	// HTTPClient defaults to a new http.Client.
	HTTPClient *http.Client
	// Name overrides Name() (default "openai:" + URL + "#" + Model).
	Name string
}

// Client is an OpenAI-compatible embeddings client. It implements embed.Embedder.
type Client struct {
	opts     Options
	endpoint string
	dim      int
	// sleep waits d or until ctx ends; tests replace it to observe backoff without waiting.
	sleep func(ctx context.Context, d time.Duration) error
	// limit is the largest batch the server accepted after rejecting a larger one (0: none).
	limit atomic.Int64
}

var _ embed.Embedder = (*Client)(nil)

// StatusError is a non-2xx answer.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("embeddings server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func retriable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// Open validates opts and, when opts.Dim is 0, embeds one probe text to learn the dimension.
func Open(ctx context.Context, opts Options) (*Client, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if c.dim == 0 {
		v, err := c.Embed(ctx, []string{"dimension probe"}, embed.Query)
		if err != nil {
			return nil, fmt.Errorf("httpembed %s: probe: %w", c.endpoint, err)
		}
		c.dim = len(v[0])
	}
	return c, nil
}

// New validates opts without contacting the server; Dim() is opts.Dim (0 until the first
// successful Embed when unset).
func New(opts Options) (*Client, error) {
	u := strings.TrimRight(opts.URL, "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("httpembed: URL %q must start with http:// or https://", opts.URL)
	}
	switch {
	case strings.HasSuffix(u, "/embeddings"):
	case strings.HasSuffix(u, "/v1"):
		u += "/embeddings"
	default:
		u += "/v1/embeddings"
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 32
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 5
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 20 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Name == "" {
		opts.Name = "openai:" + opts.URL
		if opts.Model != "" {
			opts.Name += "#" + opts.Model
		}
	}
	return &Client{opts: opts, endpoint: u, dim: opts.Dim, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Dim implements embed.Embedder.
func (c *Client) Dim() int { return c.dim }

// Name implements embed.Embedder.
func (c *Client) Name() string { return c.opts.Name }

// Embed implements embed.Embedder.
func (c *Client) Embed(ctx context.Context, texts []string, kind embed.Kind) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, c.opts.Concurrency)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for start := 0; start < len(texts); start += c.opts.BatchSize {
		end := min(start+c.opts.BatchSize, len(texts))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(start, end int) {
			defer wg.Done()
			defer func() { <-sem }()
			batch := make([]string, end-start)
			for i, t := range texts[start:end] {
				batch[i] = c.opts.Prefixes.Apply(t, kind)
			}
			vecs, err := c.embedBatch(ctx, batch)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("httpembed %s: texts %d-%d: %w", c.endpoint, start, end-1, err)
				}
				mu.Unlock()
				cancel()
				return
			}
			copy(out[start:end], vecs)
		}(start, end)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("httpembed %s: %w", c.endpoint, err)
	}
	dim := len(out[0])
	for i, v := range out {
		if len(v) != dim || (c.dim != 0 && len(v) != c.dim) {
			return nil, fmt.Errorf("httpembed %s: vector %d has %d dims, want %d", c.endpoint, i, len(v), max(c.dim, dim))
		}
		if c.opts.Normalize {
			embed.Normalize(v)
		}
	}
	return out, nil
}

type request struct {
	Model          string   `json:"model,omitempty"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type response struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// embedBatch posts one batch, split in halves while the server rejects it as too large.
func (c *Client) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	if l := int(c.limit.Load()); l > 0 && len(batch) > l {
		return c.split(ctx, batch)
	}
	vecs, err := c.embedOnce(ctx, batch)
	var se *StatusError
	if err != nil && len(batch) > 1 && errors.As(err, &se) && (se.Status == http.StatusRequestEntityTooLarge || se.Status == http.StatusUnprocessableEntity) {
		// TEI answers a batch over --max-client-batch-size with 422; proxies answer 413.
		half := int64(len(batch) / 2)
		for {
			cur := c.limit.Load()
			if (cur != 0 && cur <= half) || c.limit.CompareAndSwap(cur, half) {
				break
			}
		}
		return c.split(ctx, batch)
	}
	return vecs, err
}

// split embeds the two halves of batch.
func (c *Client) split(ctx context.Context, batch []string) ([][]float32, error) {
	mid := len(batch) / 2
	a, err := c.embedBatch(ctx, batch[:mid])
	if err != nil {
		return nil, err
	}
	b, err := c.embedBatch(ctx, batch[mid:])
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}

// embedOnce posts one batch, retrying retriable failures.
func (c *Client) embedOnce(ctx context.Context, batch []string) ([][]float32, error) {
	body, err := json.Marshal(request{Model: c.opts.Model, Input: batch, EncodingFormat: "float"})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	retries := max(c.opts.MaxRetries, 0)
	for attempt := 0; ; attempt++ {
		vecs, wait, err := c.post(ctx, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		if wait < 0 || attempt >= retries {
			if wait >= 0 {
				err = fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
			}
			return nil, err
		}
		if wait == 0 {
			wait = min(c.opts.Backoff<<attempt, c.opts.MaxBackoff)
			wait = wait/2 + rand.N(wait/2+1) // jitter in [wait/2, wait]
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("waiting to retry: %w", err)
		}
	}
}

// post makes one attempt. wait < 0 means the error is not retriable; wait > 0 is the server's
// Retry-After; 0 means use backoff.
func (c *Client) post(ctx context.Context, body []byte, n int) ([][]float32, time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, -1, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Status: resp.StatusCode, Message: errorMessage(raw)}
		if retriable(resp.StatusCode) {
			return nil, retryAfter(resp.Header.Get("Retry-After")), se
		}
		return nil, -1, streams.Permanent("embed_http_status", se)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, -1, streams.Permanent("embed_bad_response", fmt.Errorf("decode response: %w", err))
	}
	if len(r.Data) != n {
		return nil, -1, streams.Permanent("embed_bad_response", fmt.Errorf("response has %d embeddings for %d inputs", len(r.Data), n))
	}
	out := make([][]float32, n)
	for pos, d := range r.Data {
		i := pos
		if d.Index != nil {
			i = *d.Index
		}
		if i < 0 || i >= n || out[i] != nil {
			return nil, -1, streams.Permanent("embed_bad_response", fmt.Errorf("response index %d out of range or repeated", i))
		}
		if len(d.Embedding) == 0 {
			return nil, -1, streams.Permanent("embed_bad_response", fmt.Errorf("empty embedding at index %d", i))
		}
		out[i] = d.Embedding
	}
	return out, 0, nil
}

// errorMessage extracts {"error": {"message": ...}} / {"error": "..."} / {"message": ...}, else
// the start of the body.
func errorMessage(raw []byte) string {
	if m, ok := httperr.Message(raw); ok {
		return m
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// retryAfter parses Retry-After (delay seconds or an HTTP date); 0 when absent or invalid.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil && s >= 0 {
		return max(time.Duration(s*float64(time.Second)), time.Millisecond)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), time.Millisecond)
	}
	return 0
}

// IsStatus reports whether err carries an HTTP status answer with that code.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == code
}
