// Package lm defines how lsrflow talks to language models that score given text: the Scorer
// contract (log-likelihood of a target string given a prompt, token by token), the Generator
// contract (greedy generation, for generate-then-score), and helpers shared by the backends
// (locating the target tokens from token offsets, float64 log-softmax).
//
// Backends live below: lm/httplm (vLLM, TGI and SGLang servers over HTTP) and lm/gguf (an
// in-process GGUF model through libllama).
//
// # Target tokens
//
// A Request is scored by tokenizing Prompt+Target as one string, exactly as the model would
// see it, and summing the log-probabilities of the tokens that cover any byte of Target. A
// token that straddles the boundary (for example SentencePiece's "▁Paris" when the prompt ends
// in a space) belongs to the target. The answer is therefore never tokenized on its own, which
// would give different tokens than it has inside the prompt.
//
// # Contracts
//
// Scorer and Generator implementations are safe for concurrent use; Score and Generate block
// until every request is answered, ctx is done, or an error occurs. Errors that will not heal
// on retry are wrapped with streams.Permanent; an input longer than the model's context is
// reported as *OverflowError so that callers can shorten it.
package lm
