// Package lm defines how lsrflow talks to language models that score given text: the Scorer
// contract (log-likelihood of a target string given a prompt, token by token), the Generator
// contract (greedy generation, for generate-then-score), the Tokenizer contract and the
// token-id alignment every backend uses (EncodePair), and float64 log-softmax.
//
// Backends live below: lm/httplm (vLLM, TGI and SGLang servers over HTTP) and lm/gguf (an
// in-process GGUF model through libllama).
//
// # Target tokens
//
// A Request is split into context and target as lm-evaluation-harness' loglikelihood does
// (EncodePair): trailing whitespace of the prompt moves to the target, whole =
// enc(prompt+target), the target's tokens are whole[len(enc(prompt)):], enc adds the
// tokenizer's special prefix (BOS) unless the text already starts with it. A Request with
// Layout LayoutSeparate is tokenized as FlashRAG's cal_gen_probs does instead (EncodeSeparate:
// enc(prompt) + enc(target), each without special tokens, nothing moved across the
// boundary), which the seed-compatible teacher needs to reproduce the experiment's labels.
// Backends send these ids and take log-probabilities by position; no decoded text or
// character offset is trusted. A Tokenizer is the model's: a server's /tokenize, a tokenizer.json
// (LoadTokenizer), or a GGUF vocabulary. docs/lm.md has the rules and why.
//
// # Contracts
//
// Scorer and Generator implementations are safe for concurrent use; Score and Generate block
// until every request is answered, ctx is done, or an error occurs. Errors that will not heal
// on retry are wrapped with streams.Permanent; an input longer than the model's context is
// reported as *OverflowError so that callers can shorten it.
package lm
