package httplm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsrflow/lsrflow/internal/httperr"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/streams"
)

// Server kinds.
const (
	KindVLLM               = "vllm"
	KindVLLMPromptLogprobs = "vllm-prompt-logprobs"
	KindTGI                = "tgi"
	KindSGLang             = "sglang"
)

// Options configure a Client.
type Options struct {
	Kind    string
	BaseURL string // e.g. http://host:8000/v1 or http://host:8080
	Model   string
	// Concurrency bounds in-flight requests (default 8).
	Concurrency int
	// Timeout bounds one HTTP request (default 60s).
	Timeout time.Duration
	// Retries after the first attempt (default 3; negative = none).
	Retries int
	// Backoff is the first retry's backoff ceiling (default 200ms), doubled per attempt up to
	// MaxBackoff (default 10s). Retry-After is honoured up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// BatchSize is the most prompts per request for servers that take lists (default 64).
	BatchSize int
	// HTTPClient defaults to a client with no overall timeout (Timeout is per attempt).
	HTTPClient *http.Client
	// ContextSize, when known, is reported in Info and prompts longer than it are reported
	// as overflows without a request.
	ContextSize int
	// Tokenizer encodes prompts and targets into the ids that are sent. Nil means the
	// server's own /tokenize endpoint (vLLM, SGLang, TGI).
	Tokenizer lm.Tokenizer
	// SendText sends prompt text instead of token ids to vLLM and SGLang, which then tokenize
	// it themselves (with their special tokens). Scoring still counts positions by our ids, so
	// a server whose tokenization differs fails loudly; lm check uses it to compare the two
	// paths.
	SendText bool
}

// Client is an HTTP scorer.
type Client struct {
	o    Options
	root string // server root without /v1
	sem  chan struct{}
	tok  lm.Tokenizer

	checkMu  sync.Mutex
	checked  bool
	checkErr error

	calls, requests, retries atomic.Int64
}

// New validates o and returns a client. It does not contact the server.
func New(o Options) (*Client, error) {
	switch o.Kind {
	case KindVLLM, KindVLLMPromptLogprobs, KindTGI, KindSGLang:
	default:
		return nil, streams.Permanent("lm-config", fmt.Errorf("httplm: unknown server kind %q", o.Kind))
	}
	if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return nil, streams.Permanent("lm-config", fmt.Errorf("httplm: base URL %q is not http(s)", o.BaseURL))
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	root := strings.TrimRight(o.BaseURL, "/")
	root = strings.TrimSuffix(root, "/v1")
	c := &Client{o: o, root: root, sem: make(chan struct{}, o.Concurrency)}
	c.tok = o.Tokenizer
	if c.tok == nil {
		c.tok = newServerTokenizer(c)
	}
	return c, nil
}

// Tokenizer returns the tokenizer the client encodes with (the local one or the server's).
func (c *Client) Tokenizer() lm.Tokenizer { return c.tok }

// Kind returns the server kind.
func (c *Client) Kind() string { return c.o.Kind }

// Info describes the server.
func (c *Client) Info() lm.Info {
	return lm.Info{Backend: c.o.Kind, Model: c.o.Model, Precision: "server", ContextSize: c.o.ContextSize, Tokenizer: c.tok.Source()}
}

// Counters returns cumulative counters.
func (c *Client) Counters() lm.Counters {
	return lm.Counters{Calls: c.calls.Load(), Requests: c.requests.Load(), Retries: c.retries.Load()}
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.o.HTTPClient.CloseIdleConnections()
	return nil
}

// statusError is a non-2xx answer.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.code, strings.TrimSpace(truncate(e.body, 300)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Context-length rejections, by server and version. Each pattern yields (limit, tokens) or
// (tokens, limit) as named.
var overflowPatterns = []struct {
	re            *regexp.Regexp
	limit, tokens int // submatch indexes
}{
	// vLLM <= 0.6 (serving_engine.py _validate_prompt_and_tokenize): "This model's maximum
	// context length is N tokens. However, you requested M tokens (K in the messages, J in
	// the completion)."
	{regexp.MustCompile(`maximum context length is (\d+) tokens.*?requested (\d+) tokens`), 1, 2},
	// vLLM >= 0.7 (serving_engine.py _validate_input): "...maximum context length is N
	// tokens. However, your request has M input tokens."
	{regexp.MustCompile(`maximum context length is (\d+) tokens.*?your request has (\d+) input tokens`), 1, 2},
	// Newer vLLM renderers: "...maximum context length is N tokens. However, you requested
	// J output tokens and your prompt contains at least M input tokens".
	{regexp.MustCompile(`maximum context length is (\d+) tokens.*?prompt contains at least (\d+) input tokens`), 1, 2},
	// vLLM V1 engine (vllm/v1/engine/processor.py _validate_model_input): "The decoder prompt
	// (length M) is longer than the maximum model length of N."
	{regexp.MustCompile(`prompt \(length (\d+)\) is longer than the maximum model length of (\d+)`), 2, 1},
	// TGI (router/src/validation.rs ValidationError::InputLength): "`inputs` must have less
	// than N tokens. Given: M".
	{regexp.MustCompile("inputs` must have less than (\\d+) tokens\\. Given: (\\d+)"), 1, 2},
	// TGI (ValidationError::MaxTotalTokens): "`inputs` tokens + `max_new_tokens` must be <=
	// N. Given: M `inputs` tokens and J `max_new_tokens`".
	{regexp.MustCompile(`must be <= (\d+)\. Given: (\d+)`), 1, 2},
	// SGLang, old (tokenizer_manager.py _validate_one_request): "The input (M tokens) is
	// longer than the model's context length (N tokens)."
	{regexp.MustCompile(`input \((\d+) tokens\) is longer than the model's context length \((\d+) tokens\)`), 2, 1},
	// SGLang, new (managers/utils.py validate_input_length): "Input length (M tokens) exceeds
	// the maximum allowed length (N tokens)."
	{regexp.MustCompile(`[Ii]nput length \((\d+) tokens\) exceeds the maximum allowed length \((\d+) tokens\)`), 2, 1},
}

// errorText is the message of a JSON error body, or the body itself.
func errorText(body string) string {
	if m, ok := httperr.Message([]byte(body)); ok {
		return m
	}
	return body
}

// overflowFrom recognizes a context-length rejection.
func overflowFrom(body string) (*lm.OverflowError, bool) {
	body = errorText(body)
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for _, p := range overflowPatterns {
		if m := p.re.FindStringSubmatch(body); m != nil {
			return &lm.OverflowError{Limit: atoi(m[p.limit]), Tokens: atoi(m[p.tokens])}, true
		}
	}
	low := strings.ToLower(body)
	if strings.Contains(low, "context length") || strings.Contains(low, "too long") {
		return &lm.OverflowError{}, true
	}
	return nil, false
}

// retryAfter parses a Retry-After header (seconds or HTTP date).
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// post sends body to path with retries and returns the response body of a 2xx answer.
// decode is applied inside the retry loop so that an unreadable body is retried.
func (c *Client) post(ctx context.Context, path string, body any, decode func([]byte) error) error {
	b, err := json.Marshal(body)
	if err != nil {
		return streams.Permanent("lm-bad-request", fmt.Errorf("httplm: encode request: %w", err))
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	var last error
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
			wait := c.o.Backoff << (attempt - 1)
			if wait > c.o.MaxBackoff || wait <= 0 {
				wait = c.o.MaxBackoff
			}
			wait = time.Duration(rand.Int64N(int64(wait)) + 1)
			if ra := c.lastRetryAfter(last); ra > 0 {
				wait = min(ra, c.o.MaxBackoff)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		err := c.once(ctx, path, b, decode)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if streams.IsPermanent(err) {
			return err
		}
		if _, ok := lm.AsOverflow(err); ok {
			return err
		}
		last = err
	}
	return fmt.Errorf("httplm: %s%s failed after %d attempts: %w", c.root, path, c.o.Retries+1, last)
}

type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

func (c *Client) lastRetryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.wait
	}
	return 0
}

func (c *Client) once(ctx context.Context, path string, body []byte, decode func([]byte) error) error {
	actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.root+path, bytes.NewReader(body))
	if err != nil {
		return streams.Permanent("lm-config", fmt.Errorf("httplm: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	c.calls.Add(1)
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("httplm: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("httplm: read body: %w", err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if err := decode(rb); err != nil {
			return fmt.Errorf("httplm: decode %s response: %w", c.o.Kind, err)
		}
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return &retryAfterError{err: &statusError{resp.StatusCode, string(rb)}, wait: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return &statusError{resp.StatusCode, string(rb)}
	default:
		if oe, ok := overflowFrom(string(rb)); ok {
			return oe
		}
		return streams.Permanent("lm-rejected", fmt.Errorf("httplm: %s%s: %w", c.root, path, &statusError{resp.StatusCode, string(rb)}))
	}
}

// Generate continues prompt greedily.
// Prompts go as token ids (vLLM, SGLang) or, to TGI, as text without a leading BOS, so that a
// chat template that writes BOS does not get a second one from the server.
func (c *Client) Generate(ctx context.Context, prompt string, maxTokens int, stop []string) (string, error) {
	var text string
	var ids []int
	if c.o.Kind != KindTGI {
		var err error
		if ids, err = lm.EncodeWithSpecial(ctx, c.tok, prompt); err != nil {
			return "", fmt.Errorf("httplm: tokenize: %w", err)
		}
	}
	switch c.o.Kind {
	case KindVLLM, KindVLLMPromptLogprobs:
		body := map[string]any{"model": c.o.Model, "prompt": ids, "max_tokens": maxTokens, "temperature": 0, "stop": stop}
		err := c.post(ctx, "/v1/completions", body, func(b []byte) error {
			var r struct {
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			if len(r.Choices) != 1 {
				return fmt.Errorf("%d choices", len(r.Choices))
			}
			text = r.Choices[0].Text
			return nil
		})
		return text, err
	case KindTGI:
		in, err := c.tgiText(ctx, c.tok, lm.Request{Prompt: prompt})
		if err != nil {
			return "", err
		}
		body := map[string]any{"inputs": in, "parameters": map[string]any{"max_new_tokens": maxTokens, "do_sample": false, "stop": stop}}
		err = c.post(ctx, "/generate", body, func(b []byte) error {
			var r struct {
				GeneratedText *string `json:"generated_text"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			if r.GeneratedText == nil {
				return errors.New("no generated_text")
			}
			text = *r.GeneratedText
			return nil
		})
		return cutStop(text, stop), err
	default:
		body := map[string]any{"input_ids": ids, "sampling_params": map[string]any{"max_new_tokens": maxTokens, "temperature": 0, "stop": stop}}
		err := c.post(ctx, "/generate", body, func(b []byte) error {
			var r struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			if r.Text == nil {
				return errors.New("no text")
			}
			text = *r.Text
			return nil
		})
		return cutStop(text, stop), err
	}
}

func cutStop(s string, stop []string) string {
	for _, st := range stop {
		if i := strings.Index(s, st); st != "" && i >= 0 {
			s = s[:i]
		}
	}
	return s
}
