package httplm_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// backend is a client kind and an emulated server it must score exactly against.
type backend struct {
	client string
	server string
	opts   func(*lmemu.Options)
}

// start serves b's emulator (clean-up as given, o's other fields applied first) and returns
// a client of b's kind on it that tokenizes with tok (nil: the server's /tokenize).
func (b backend) start(t *testing.T, o lmemu.Options, tok lm.Tokenizer) (*httplm.Client, *lmemu.Server) {
	t.Helper()
	o.Kind = b.server
	if b.opts != nil {
		b.opts(&o)
	}
	ts, srv := emutest.Start(t, o)
	return newClient(t, b.client, ts.URL, tok, nil), srv
}

// backends pairs each client kind with the emulated servers it must score exactly against.
var backends = []backend{
	{httplm.KindVLLM, lmemu.VLLM, nil},
	{httplm.KindVLLM, lmemu.VLLM06, nil},
	{httplm.KindVLLMPromptLogprobs, lmemu.VLLM, nil},
	{httplm.KindTGI, lmemu.TGI2, nil},
	{httplm.KindTGI, lmemu.TGI3, func(o *lmemu.Options) { o.PrefillLogprobs = true }},
	{httplm.KindSGLang, lmemu.SGLang, nil},
}

const bosText = "<|begin_of_text|>"

// pairs builds (prompt, target) requests from QED and NQ questions and passages, plus the
// boundary cases: a prompt ending in a space, a chat template that writes BOS itself, a target
// that merges with the prompt's last word, multi-byte answers.
func pairs(t *testing.T, n int) []lm.Request {
	var out []lm.Request
	plain := prompt.Default("plain")
	for _, q := range emutest.Queries(t, n, 1) {
		p := q.Passages[0]
		title, text, _ := strings.Cut(p.Contents, "\n")
		doc := []promptPassage{{title, text}}
		pr := plain.QA(q.Question, toSchema(doc))
		out = append(out, lm.Request{Prompt: pr, Target: " " + q.Answers[0]})
	}
	chat := prompt.Wrap(prompt.ChatLlama3, "Answer from the passage.", "Where is Zürich?")
	out = append(out,
		lm.Request{Prompt: "Doc: Zürich , the largest city of Switzerland , lies on Lake Zürich .\nAnswer: ", Target: "Zürich , Switzerland"},
		lm.Request{Prompt: bosText + chat, Target: "Zürich , Switzerland"},
		lm.Request{Prompt: chat, Target: "東京 – Tōkyō"},
		lm.Request{Prompt: "Question: whose book?\nAnswer: the", Target: "ir book"},
		lm.Request{Prompt: "Question: who?\nAnswer:", Target: " Maria Skłodowska - Curie , 1903"},
	)
	return out
}

func newClient(t *testing.T, kind, url string, tok lm.Tokenizer, mod func(*httplm.Options)) *httplm.Client {
	t.Helper()
	o := httplm.Options{Kind: kind, BaseURL: url + "/v1", Model: "meta-llama/Meta-Llama-3-8B-Instruct", Timeout: 10 * time.Second,
		Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, BatchSize: 8, Tokenizer: tok}
	if mod != nil {
		mod(&o)
	}
	c, err := httplm.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestScoresEqualFloat64Recomputation: through every emulated server, with the real Llama-3
// tokenizer (BOS), clean-up on and off, tokenized locally or by the server, every pair's
// target log-likelihood equals the independent recomputation within 1e-6, and none fails.
func TestScoresEqualFloat64Recomputation(t *testing.T) {
	raw, _ := emutest.Load(t)
	local, err := lm.NewLocalTokenizer(raw, "llama3")
	if err != nil {
		t.Fatal(err)
	}
	reqs := pairs(t, 12)
	want := make([]float64, len(reqs))
	wantN := make([]int, len(reqs))
	for i, r := range reqs {
		want[i], wantN[i] = emutest.Expected(raw, bosText, r.Prompt, r.Target)
	}
	for _, b := range backends {
		for _, cleanUp := range []bool{true, false} {
			for _, tokSrc := range []string{"local", "server"} {
				name := fmt.Sprintf("%s-on-%s/cleanup=%v/%s", b.client, b.server, cleanUp, tokSrc)
				t.Run(name, func(t *testing.T) {
					var tok lm.Tokenizer
					if tokSrc == "local" {
						tok = local
					}
					c, _ := b.start(t, lmemu.Options{Tokenizer: lmemu.NewTokenizer(raw, -1, cleanUp)}, tok)
					res, err := c.Score(t.Context(), reqs)
					if err != nil {
						t.Fatal(err)
					}
					for i := range reqs {
						if len(res[i].TokenLogprobs) != wantN[i] || math.Abs(res[i].Sum()-want[i]) > 1e-6 {
							t.Errorf("pair %d (%q): %d tokens, sum %.9f; want %d, %.9f", i, reqs[i].Target, len(res[i].TokenLogprobs), res[i].Sum(), wantN[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestTGI3WithoutPrefillFlagFailsAtOnce: TGI 3 without --enable-prefill-logprobs returns
// "prefill": []: a permanent error naming the flag after one request, no retries.
func TestTGI3WithoutPrefillFlagFailsAtOnce(t *testing.T) {
	raw, _ := emutest.Load(t)
	ts, srv := emutest.Start(t, lmemu.Options{Kind: lmemu.TGI3, Tokenizer: lmemu.NewTokenizer(raw, -1, true)})
	c := newClient(t, httplm.KindTGI, ts.URL, nil, func(o *httplm.Options) { o.Retries = 5 })
	_, err := c.Score(t.Context(), []lm.Request{{Prompt: "Question: who?\nAnswer:", Target: " Neil"}})
	if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "--enable-prefill-logprobs") {
		t.Fatalf("want a permanent error naming --enable-prefill-logprobs, got %v", err)
	}
	if srv.Calls() != 1 {
		t.Errorf("%d /generate calls: the misconfiguration must fail at once", srv.Calls())
	}
}

// TestMisconfiguredServersFailPermanently: a server that ignores echo, a local tokenizer that is
// not the server's, a server that scores other ids than the ones sent.
func TestMisconfiguredServersFailPermanently(t *testing.T) {
	raw, noBOS := emutest.Load(t)
	emu := lmemu.NewTokenizer(raw, -1, true)
	req := []lm.Request{{Prompt: "Question: who?\nAnswer:", Target: " Neil Armstrong"}}

	t.Run("echo-ignored", func(t *testing.T) {
		s, _ := lmemu.New(lmemu.Options{Kind: lmemu.VLLM, Tokenizer: emu})
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A server that drops echo from the request, as OpenAI's current API does.
			body := strings.NewReader(strings.Replace(readAll(r), `"echo":true`, `"echo":false`, 1))
			r2 := r.Clone(r.Context())
			r2.Body = readCloser{body}
			s.ServeHTTP(w, r2)
		}))
		defer ts.Close()
		_, err := newClient(t, httplm.KindVLLM, ts.URL, nil, nil).Score(t.Context(), req)
		if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "echo") {
			t.Fatalf("want a permanent error about echo, got %v", err)
		}
	})
	t.Run("tokenizer-mismatch", func(t *testing.T) {
		ts, srv := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: emu})
		wrong, err := lm.NewLocalTokenizer(noBOS, "llama3-original")
		if err != nil {
			t.Fatal(err)
		}
		_, err = newClient(t, httplm.KindVLLM, ts.URL, wrong, nil).Score(t.Context(), req)
		if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "tokenizer mismatch") {
			t.Fatalf("want a permanent tokenizer mismatch, got %v", err)
		}
		if srv.Calls() != 0 {
			t.Errorf("%d scoring calls made with a mismatched tokenizer", srv.Calls())
		}
	})
	t.Run("tgi-mismatch", func(t *testing.T) {
		// TGI serving the original Llama-3 tokenizer.json (no BOS): its prefill ids differ from
		// the ids of the model's tokenizer in use.
		ts, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.TGI2, Tokenizer: lmemu.NewTokenizer(noBOS, -1, true)})
		local, _ := lm.NewLocalTokenizer(raw, "llama3")
		c := newClient(t, httplm.KindTGI, ts.URL, local, nil)
		_, err := c.Score(t.Context(), req)
		if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "mismatch") {
			t.Fatalf("want a permanent mismatch, got %v", err)
		}
	})
}

// TestOverflowIsRecognized: every server's context-length wording becomes *lm.OverflowError
// naming the request, with the numbers when the message has them.
func TestOverflowIsRecognized(t *testing.T) {
	raw, _ := emutest.Load(t)
	long := strings.Repeat("Zürich , the largest city of Switzerland . ", 40)
	reqs := []lm.Request{{Prompt: "Q: short?\nA:", Target: " yes"}, {Prompt: long + "\nA:", Target: " no"}}
	for _, b := range backends {
		t.Run(b.client+"-on-"+b.server, func(t *testing.T) {
			// Tokenized locally, so the client does not learn max_model_len from /tokenize and
			// the server's message is what reports the overflow.
			local, _ := lm.NewLocalTokenizer(raw, "llama3")
			c, _ := b.start(t, lmemu.Options{Tokenizer: lmemu.NewTokenizer(raw, -1, true), MaxModelLen: 128}, local)
			_, err := c.Score(t.Context(), reqs)
			oe, ok := lm.AsOverflow(err)
			if !ok || oe.Index != 1 || oe.Limit == 0 || oe.Tokens <= 128 {
				t.Fatalf("want an overflow of request 1 with numbers, got %v (%+v)", err, oe)
			}
		})
	}
}

// TestRetriesAndCancellation: transient failures (5xx, 429 with Retry-After, a timeout, a
// truncated body) are retried; a 4xx is permanent; a cancelled context stops the call.
func TestRetriesAndCancellation(t *testing.T) {
	raw, _ := emutest.Load(t)
	s, _ := lmemu.New(lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, true)})
	var calls atomic.Int64
	var mode atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/completions" {
			s.ServeHTTP(w, r)
			return
		}
		n := calls.Add(1)
		switch mode.Load().(string) {
		case "400":
			http.Error(w, `{"object":"error","message":"invalid model"}`, http.StatusBadRequest)
			return
		case "500-once":
			if n == 1 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
		case "429-once":
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
		case "timeout-once":
			if n == 1 {
				time.Sleep(300 * time.Millisecond)
			}
		case "garbage-once":
			if n == 1 {
				_, _ = w.Write([]byte(`{"choices": [`))
				return
			}
		case "always-503":
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	req := []lm.Request{{Prompt: "Question: who?\nAnswer:", Target: " Neil"}}
	run := func(m string, mod func(*httplm.Options)) (time.Duration, error) {
		mode.Store(m)
		calls.Store(0)
		start := time.Now()
		_, err := newClient(t, httplm.KindVLLM, ts.URL, nil, mod).Score(t.Context(), req)
		return time.Since(start), err
	}
	if _, err := run("400", nil); err == nil || !streams.IsPermanent(err) {
		t.Errorf("400: want a permanent error, got %v", err)
	}
	for _, m := range []string{"500-once", "garbage-once"} {
		if _, err := run(m, nil); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if d, err := run("429-once", func(o *httplm.Options) { o.MaxBackoff = 5 * time.Second }); err != nil || d < 900*time.Millisecond {
		t.Errorf("429 with Retry-After: 1: err %v after %v (must wait ~1s)", err, d)
	}
	if _, err := run("timeout-once", func(o *httplm.Options) { o.Timeout = 100 * time.Millisecond }); err != nil {
		t.Errorf("timeout then OK: %v", err)
	}
	if _, err := run("always-503", func(o *httplm.Options) { o.Retries = 2 }); err == nil || streams.IsPermanent(err) || calls.Load() != 3 {
		t.Errorf("always 503: want a retriable error after 3 calls, got %v after %d", err, calls.Load())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	mode.Store("500-once")
	if _, err := newClient(t, httplm.KindVLLM, ts.URL, nil, nil).Score(ctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestGenerateSendsOneBOS: a generation prompt that writes BOS itself (a chat template) reaches
// every server with exactly one BOS.
func TestGenerateSendsOneBOS(t *testing.T) {
	raw, _ := emutest.Load(t)
	chat := bosText + prompt.Wrap(prompt.ChatLlama3, "Answer briefly.", "Where is Zürich?")
	for _, b := range backends {
		t.Run(b.client+"-on-"+b.server, func(t *testing.T) {
			emu := lmemu.NewTokenizer(raw, -1, true)
			s, _ := lmemu.New(lmemu.Options{Kind: b.server, Tokenizer: emu, PrefillLogprobs: true})
			var bos atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := readAll(r)
				if strings.Contains(r.URL.Path, "completions") || strings.HasSuffix(r.URL.Path, "/generate") {
					// Count the BOS the server will score: in the ids sent, or added to text.
					ids := emu.Encode(textOrIDs(body), true)
					if strings.Contains(body, `"prompt":[`) || strings.Contains(body, `"input_ids":[`) {
						ids = idsIn(body)
					}
					n := 0
					for n < len(ids) && ids[n] == emutest.BOSID {
						n++
					}
					bos.Store(int64(n))
				}
				r2 := r.Clone(r.Context())
				r2.Body = readCloser{strings.NewReader(body)}
				s.ServeHTTP(w, r2)
			}))
			defer ts.Close()
			if _, err := newClient(t, b.client, ts.URL, nil, nil).Generate(t.Context(), chat, 1, nil); err != nil {
				t.Fatal(err)
			}
			if bos.Load() != 1 {
				t.Errorf("the server scores %d BOS tokens", bos.Load())
			}
		})
	}
}
