package httplm_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/streams"
)

var kinds = []string{"vllm", "vllm-prompt-logprobs", "tgi", "sglang"}

const qa = "Answer the question based on the given document.\nDoc 1(Title: Zürich) Zürich is the largest city in Switzerland.\nQuestion: largest swiss city?\nAnswer:"

var reqs = []lm.Request{
	{Prompt: qa, Target: " Zürich"},
	{Prompt: qa + " ", Target: "1969"},      // straddle: the space belongs to the prompt
	{Prompt: qa, Target: " 東京 Tokyo"},       // multi-byte: vLLM offsets are in characters
	{Prompt: qa, Target: " the city of 42"}, // several tokens, digits
	{Prompt: "Q: who?\nA:", Target: " Neil Armstrong"},
}

func newClient(t *testing.T, kind, url string, mod func(*httplm.Options)) *httplm.Client {
	t.Helper()
	o := httplm.Options{Kind: kind, BaseURL: url + "/v1", Model: "m", Timeout: 2 * time.Second, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	c, err := httplm.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScoresEqualFloat64Recomputation(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { replay(kind, w, r) }))
			defer srv.Close()
			c := newClient(t, kind, srv.URL, nil)
			res, err := c.Score(t.Context(), reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range reqs {
				want, n := expected(r.Prompt, r.Target)
				if len(res[i].TokenLogprobs) != n {
					t.Errorf("%q: %d target tokens, want %d", r.Target, len(res[i].TokenLogprobs), n)
				}
				if math.Abs(res[i].Sum()-want) > 1e-12 {
					t.Errorf("%q: sum %v, want %v", r.Target, res[i].Sum(), want)
				}
			}
		})
	}
}

func TestFailures(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			var calls atomic.Int64
			var mode atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				switch mode.Load().(string) {
				case "400":
					http.Error(w, `{"object":"error","message":"invalid model"}`, http.StatusBadRequest)
				case "500-once":
					if n == 1 {
						http.Error(w, "boom", http.StatusInternalServerError)
						return
					}
					replay(kind, w, r)
				case "429-once":
					if n == 1 {
						w.Header().Set("Retry-After", "1")
						http.Error(w, "slow down", http.StatusTooManyRequests)
						return
					}
					replay(kind, w, r)
				case "timeout-once":
					if n == 1 {
						time.Sleep(300 * time.Millisecond)
					}
					replay(kind, w, r)
				case "always-503":
					http.Error(w, "overloaded", http.StatusServiceUnavailable)
				case "overflow":
					// vLLM's wording; the client narrows a batch down to the prompt.
					if len(r.URL.Path) > 0 {
						body := make(map[string]any)
						_ = body
					}
					http.Error(w, `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4999 in the messages, 1 in the completion).","type":"BadRequestError","code":400}`, http.StatusBadRequest)
				case "garbage-once":
					if n == 1 {
						w.Write([]byte(`{"choices": [`))
						return
					}
					replay(kind, w, r)
				}
			}))
			defer srv.Close()
			run := func(m string, mod func(*httplm.Options)) (time.Duration, error) {
				mode.Store(m)
				calls.Store(0)
				c := newClient(t, kind, srv.URL, mod)
				start := time.Now()
				_, err := c.Score(t.Context(), reqs[:1])
				return time.Since(start), err
			}
			if _, err := run("400", nil); err == nil || !streams.IsPermanent(err) {
				t.Errorf("400: want a permanent error, got %v", err)
			}
			if _, err := run("500-once", nil); err != nil {
				t.Errorf("500 then OK: %v", err)
			}
			if d, err := run("429-once", func(o *httplm.Options) { o.MaxBackoff = 5 * time.Second }); err != nil || d < 900*time.Millisecond {
				t.Errorf("429 with Retry-After: 1: err %v after %v (must wait ~1s)", err, d)
			}
			if _, err := run("timeout-once", func(o *httplm.Options) { o.Timeout = 100 * time.Millisecond }); err != nil {
				t.Errorf("timeout then OK: %v", err)
			}
			if _, err := run("garbage-once", nil); err != nil {
				t.Errorf("truncated body then OK: %v", err)
			}
			_, err := run("always-503", func(o *httplm.Options) { o.Retries = 2 })
			if err == nil || streams.IsPermanent(err) || calls.Load() != 3 {
				t.Errorf("always 503: want a retriable error after 3 calls, got %v after %d", err, calls.Load())
			}
			mode.Store("overflow")
			c := newClient(t, kind, srv.URL, nil)
			_, err = c.Score(t.Context(), reqs[:3])
			oe, ok := lm.AsOverflow(err)
			if !ok || oe.Limit != 4096 || oe.Tokens != 5000 {
				t.Errorf("overflow: got %v", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			mode.Store("500-once")
			if _, err := c.Score(ctx, reqs[:1]); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled context: %v", err)
			}
		})
	}
}
