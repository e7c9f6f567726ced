package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/lm/lmcheck"
	"github.com/lsrflow/lsrflow/lm/lmemu"
)

func lmCmd() *command {
	return &command{name: "lm", summary: "LM server tools: check (preflight), score (one pair's tokens), emulate", run: runLMCmd}
}

func runLMCmd(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(sio.out, `Usage: lsrflow lm SUBCOMMAND [flags]

Subcommands:
  check    preflight an LM server before a long job: consistent, position-correct log-probs?
  score    print one (prompt, target) pair's target tokens and log-probabilities
  emulate  serve an emulated vLLM / TGI / SGLang for tests and demos (docs/lm.md)

Run 'lsrflow lm SUBCOMMAND --help' for its flags.`)
		return nil
	}
	switch args[0] {
	case "check":
		return runLMCheck(ctx, sio, args[1:])
	case "score":
		return runLMScore(ctx, sio, args[1:])
	case "emulate":
		return runLMEmulate(ctx, sio, args[1:])
	}
	return usagef("unknown subcommand %q (want check, score or emulate)", args[0])
}

// lmClientFlags are the flags that name an LM server.
type lmClientFlags struct {
	url, backend, model, tokenizer *string
	timeout                        *time.Duration
}

func addLMClientFlags(f *flags) lmClientFlags {
	return lmClientFlags{
		url:       f.String("lm", "", "LM server URL, e.g. http://127.0.0.1:8000/v1"),
		backend:   f.String("backend", "vllm", "server kind: vllm (echo+logprobs), vllm-prompt-logprobs, tgi, sglang"),
		model:     f.String("model", "", "model name sent to the server (vLLM checks it)"),
		tokenizer: f.String("tokenizer", "", "the model's tokenizer.json; empty: the server's /tokenize"),
		timeout:   f.Duration("timeout", 60*time.Second, "timeout of one HTTP request"),
	}
}

func (l lmClientFlags) open(sendText bool) (*httplm.Client, error) {
	if *l.url == "" {
		return nil, usagef("--lm is required")
	}
	o := httplm.Options{Kind: *l.backend, BaseURL: *l.url, Model: *l.model, Timeout: *l.timeout, SendText: sendText}
	if *l.tokenizer != "" {
		tok, err := lm.LoadTokenizer(*l.tokenizer)
		if err != nil {
			return nil, usagef("--tokenizer: %v", err)
		}
		o.Tokenizer = tok
	}
	c, err := httplm.New(o)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

func runLMCheck(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "lm check", "--lm URL [--backend K] [--model M] [--tokenizer PATH] [flags]",
		`Scores a few probe (prompt, target) pairs on the server several ways — alone, batched, in
reversed order, again after other prompts (prefix caching), as token ids and as text — and
reports whether the log-probabilities are consistent, position-correct (a copy probe is
near-certain, its control is not), computed on the tokenizer in use (compared with the server's
/tokenize; a BOS the server declares must be added), and how fast they come. Exits 0 only when
scoring is trustworthy; 1 with the failing checks otherwise.`)
	cf := addLMClientFlags(f)
	tol := f.Float64("tolerance", 0.1, "per-token difference accepted between two scorings of the same pair (plus --relative x |logprob|): bf16 batch noise")
	rel := f.Float64("relative", 0.02, "relative part of the tolerance")
	pairs := f.Int("throughput-pairs", 32, "pairs scored in the throughput run")
	if err := f.parse(args); err != nil {
		return err
	}
	c, err := cf.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	var tc *httplm.Client
	if *cf.backend != httplm.KindTGI {
		if tc, err = cf.open(true); err != nil {
			return err
		}
		defer tc.Close()
	}
	rep, err := lmcheck.Run(ctx, c, tc, lmcheck.Options{Tolerance: *tol, Relative: *rel, ThroughputPairs: *pairs})
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "lm check %s (%s, tokenizer %s)\n", *cf.url, *cf.backend, rep.Tokenizer)
	for _, fd := range rep.Findings {
		mark := "ok  "
		if !fd.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(sio.out, "%s %-12s %s\n", mark, fd.Check, fd.Detail)
	}
	if !rep.OK() {
		fmt.Fprintln(sio.out, "NOT trustworthy: fix the failing checks before scoring (docs/lm.md)")
		return lmcheck.ErrUntrustworthy
	}
	fmt.Fprintln(sio.out, "trustworthy")
	return nil
}

func runLMScore(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "lm score", "--lm URL --prompt P --target T [--backend K] [--model M] [--tokenizer PATH] [--layout lm-eval|separate]",
		`Scores log P(target | prompt) and prints the target's tokens (ids and text) with their
log-probabilities, the way the LM teachers split a pair (docs/lm.md: alignment rules).
--layout separate tokenizes prompt and target each on its own, as the seed teacher does.`)
	cf := addLMClientFlags(f)
	prompt := f.String("prompt", "", "prompt text (\\n for newlines is not interpreted: pass real newlines)")
	target := f.String("target", "", "target text")
	layoutName := f.String("layout", "lm-eval", "token layout: lm-eval (lm-evaluation-harness, the LSR teachers') or separate (FlashRAG's cal_gen_probs, the seed teacher's)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("prompt", "target"); err != nil {
		return err
	}
	layout, err := lm.ParseLayout(*layoutName)
	if err != nil {
		return usagef("--layout: %v", err)
	}
	c, err := cf.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Score(ctx, []lm.Request{{Prompt: *prompt, Target: *target, Layout: layout}})
	if err != nil {
		return err
	}
	r := res[0]
	fmt.Fprintf(sio.out, "backend %s, tokenizer %s, layout %s: %d tokens, %d in the target\n", *cf.backend, c.Tokenizer().Source(), layout, r.Tokens, len(r.TokenLogprobs))
	fmt.Fprintf(sio.out, "%5s %8s %12s  %s\n", "pos", "id", "logprob", "text")
	for j, lp := range r.TokenLogprobs {
		id := -1
		text := ""
		if j < len(r.TargetIDs) {
			id = r.TargetIDs[j]
			text = tokenText(ctx, c, id)
		}
		fmt.Fprintf(sio.out, "%5d %8d %12.6f  %q\n", r.Tokens-len(r.TokenLogprobs)+j, id, lp, text)
	}
	fmt.Fprintf(sio.out, "sum %.6f  mean %.6f\n", r.Sum(), r.Sum()/float64(max(1, len(r.TokenLogprobs))))
	return nil
}

// tokenText renders one id: the local tokenizer's piece, or the server's /detokenize.
func tokenText(ctx context.Context, c *httplm.Client, id int) string {
	if lt, ok := c.Tokenizer().(*lm.LocalTokenizer); ok {
		return lmemu.NewTokenizer(lt.Raw(), -1, false).DecodeOne(id, nil)
	}
	s, _, _ := c.Detokenize(ctx, []int{id})
	return s
}

func runLMEmulate(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "lm emulate", "--kind K --tokenizer PATH [--addr HOST:PORT] [flags]",
		`Serves an emulated LM server (package lm/lmemu): vLLM, TGI 2/3 or SGLang responses built as
those servers build them, over a real tokenizer.json, with a deterministic model whose
log-probabilities tests recompute exactly. For tests, demos and 'lm check' rehearsals; it is not
a language model.`)
	kind := f.String("kind", "vllm", "server to emulate: vllm, vllm06, tgi2, tgi3, sglang")
	tokPath := f.String("tokenizer", "", "tokenizer.json (e.g. the Llama-3 one)")
	addr := f.String("addr", "127.0.0.1:8000", "listen address (port 0: any free port)")
	bos := f.String("bos", "auto", "BOS added to text with special tokens: auto (tokenizer_config.json's bos_token when tokenizer.json adds none), none, or a token string")
	cleanUp := f.Bool("clean-up", true, "clean_up_tokenization_spaces when decoding single tokens (Llama-3's setting)")
	stale := f.Bool("stale-prefix-cache", false, "vLLM: serve stale prompt log-probabilities for prefix-cached positions (vllm issue 42019)")
	prefill := f.Bool("prefill-logprobs", false, "TGI 3: emulate --enable-prefill-logprobs")
	info := f.Bool("tokenizer-info", true, "vLLM: serve /tokenizer_info (--enable-tokenizer-info-endpoint)")
	maxLen := f.Int("max-model-len", 8192, "context window")
	model := f.String("model", "meta-llama/Meta-Llama-3-8B-Instruct", "served model name")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("tokenizer"); err != nil {
		return err
	}
	raw, err := tokenizer.Load(*tokPath)
	if err != nil {
		return usagef("--tokenizer: %v", err)
	}
	bosID, declared, err := lmemu.ResolveBOS(raw, *tokPath, *bos)
	if err != nil {
		return usagef("--bos: %v", err)
	}
	srv, err := lmemu.New(lmemu.Options{Kind: *kind, Tokenizer: lmemu.NewTokenizer(raw, bosID, *cleanUp), Model: *model, MaxModelLen: *maxLen,
		StalePrefixCache: *stale, PrefillLogprobs: *prefill, TokenizerInfo: *info, DeclaredBOS: declared})
	if err != nil {
		return usagef("%v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(sio.out, "lsrflow lm emulate: %s on http://%s (bos %d, clean-up %v)\n", *kind, ln.Addr(), bosID, *cleanUp)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
