// Package lmcheck is the preflight behind `lsrflow lm check`: it scores a few probe (prompt,
// target) pairs on an LM server several ways — alone, batched, in another order, again after
// other prompts, as token ids and as text — and reports whether the server's log-probabilities
// are consistent, position-correct, untouched by prefix caching, computed on the tokenization
// in use, and how fast they come.
//
// A real server in bf16 does not give bit-identical log-probabilities for a prompt scored alone
// and in a batch; Options.Tolerance (per token, absolute plus relative) absorbs that noise. What
// it must not absorb — a stale prefix-cache value, a missing BOS, a shifted position — moves
// log-probabilities by whole nats.
//
// Run is safe to call concurrently with other users of the clients; it blocks until every
// probe is scored. It reports findings, never retries beyond the clients' own retries, and
// returns an error only when the tokenizer cannot be reached at all.
package lmcheck
