package lmcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/lm/lmcheck"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
)

func check(t *testing.T, kind string, o lmemu.Options, tok lm.Tokenizer) lmcheck.Report {
	t.Helper()
	ts, _ := emutest.Start(t, o)
	open := func(text bool) *httplm.Client {
		c, err := httplm.New(httplm.Options{Kind: kind, BaseURL: ts.URL + "/v1", Model: "meta-llama/Meta-Llama-3-8B-Instruct", Timeout: 10 * time.Second, Tokenizer: tok, SendText: text})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var tc *httplm.Client
	if kind != httplm.KindTGI {
		tc = open(true)
	}
	rep, err := lmcheck.Run(t.Context(), open(false), tc, lmcheck.Options{ThroughputPairs: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Logf("%v %s: %s", f.OK, f.Check, f.Detail)
	}
	return rep
}

func failed(rep lmcheck.Report, check string) string {
	for _, f := range rep.Findings {
		if !f.OK && f.Check == check {
			return f.Detail
		}
	}
	return ""
}

// TestPassesOnEmulators: every emulated server configured right is trustworthy, with the
// server's tokenizer and with the model's tokenizer.json.
func TestPassesOnEmulators(t *testing.T) {
	raw, _ := emutest.Load(t)
	local, _ := lm.NewLocalTokenizer(raw, "llama3_1")
	for _, tc := range []struct{ client, server string }{
		{httplm.KindVLLM, lmemu.VLLM}, {httplm.KindVLLMPromptLogprobs, lmemu.VLLM06}, {httplm.KindTGI, lmemu.TGI3}, {httplm.KindSGLang, lmemu.SGLang},
	} {
		for _, tok := range []lm.Tokenizer{nil, local} {
			t.Run(tc.client+"-"+tc.server, func(t *testing.T) {
				rep := check(t, tc.client, lmemu.Options{Kind: tc.server, Tokenizer: lmemu.NewTokenizer(raw, -1, true), PrefillLogprobs: true, TokenizerInfo: true}, tok)
				if !rep.OK() || rep.PairsPerSecond <= 0 {
					t.Fatalf("not trustworthy on a correct server")
				}
			})
		}
	}
}

// TestFailsOnStalePrefixCache: vLLM serving stale prompt log-probabilities from its prefix
// cache fails the prefix-cache check, and says how to fix it.
func TestFailsOnStalePrefixCache(t *testing.T) {
	raw, _ := emutest.Load(t)
	for _, kind := range []string{httplm.KindVLLM, httplm.KindVLLMPromptLogprobs} {
		rep := check(t, kind, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, true), StalePrefixCache: true}, nil)
		d := failed(rep, "prefix cache")
		if rep.OK() || !strings.Contains(d, "--no-enable-prefix-caching") {
			t.Fatalf("%s: want a prefix-cache failure naming the fix, got %q", kind, d)
		}
	}
}

// TestFailsWithoutBOS: a server whose tokenizer adds no BOS (the original Llama-3
// tokenizer.json) fails: against the model's tokenizer.json as a tokenizer mismatch, and with
// the server's tokenizer through the bos_token it declares.
func TestFailsWithoutBOS(t *testing.T) {
	withBOS, noBOS := emutest.Load(t)
	o := lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(noBOS, -1, true), TokenizerInfo: true, DeclaredBOS: "<|begin_of_text|>"}
	local, _ := lm.NewLocalTokenizer(withBOS, "llama3_1")
	rep := check(t, httplm.KindVLLM, o, local)
	if d := failed(rep, "tokenizer"); rep.OK() || !strings.Contains(d, "tokenizer mismatch") {
		t.Errorf("with the model's tokenizer.json: want a tokenizer mismatch, got %q", d)
	}
	rep = check(t, httplm.KindVLLM, o, nil)
	if d := failed(rep, "BOS"); rep.OK() || !strings.Contains(d, "does not add it") {
		t.Errorf("with the server's tokenizer: want the missing BOS named, got %q", d)
	}
}
