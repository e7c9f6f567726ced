// Package lmteacher implements the LM teachers: REPLUG LSR, its seed-compatible variant, UPR
// and generate-then-score, over any lm.Scorer (HTTP servers or an in-process GGUF model).
//
// # What goes into the softmax (the default, and why)
//
// For a question x with gold answers y_1..y_m and passages d_1..d_k, LSR scores
//
//	s_i = combine_a log P_LM(y_a | prompt(d_i, x))       (sum over the answer's tokens;
//	                                                       mean per token with LengthNormalize)
//
// with combine = max (default) or log-sum-exp, and the teacher distribution is
// softmax(s / beta). REPLUG writes the *probability* P_LM(y|d,x) inside the exponent
// (ScoreTransform "prob", with its beta = 0.1). For answers of more than a few tokens those
// probabilities underflow or are all tiny, and the target collapses to uniform. We default to
// the log-likelihood ("logprob"): exp(log P / beta) = P^(1/beta), so beta = 1 (the default for
// "logprob") is exactly the LM's posterior over passages under a uniform prior,
// P(d_i | x, y) ∝ P(y | d_i, x), and beta < 1 sharpens it. Scored.TeacherScores always holds
// the combined log-likelihoods s_i; the identity records transform, combine and beta.
//
// The seed-compatible method ("seed") reproduces the earlier experiment's labels for
// comparison: the mean over tokens of each token's probability, for one gold answer (chosen by
// a hash of the query id, where the original chose at random), then a plain softmax.
//
// UPR ("upr") needs no answer: s_i = log P_LM(question | passage) with UPR's instruction, for
// live query logs. Generate-then-score ("gen-lsr") first lets the LM answer from all k passages
// (greedy), then scores that answer with LSR.
//
// # Work saved
//
// All (passage, answer) pairs of a candidate set go to the LM in one Score call, so backends
// can batch them and share prompt prefixes. With a score cache (scorecache) a pair already
// scored under the same model and prompt template is never sent again.
//
// Passages whose prompt overflows the LM's context window are truncated (their text is cut
// from the end and the pair is scored again) and counted in Scored.Truncated.
//
// # Tokens
//
// Each (prompt, target) pair is tokenized and aligned by lm.EncodePair (lm-evaluation-harness'
// rules, docs/lm.md) with the server's /tokenize or Config.Tokenizer; the identity's Tokenizer
// field names which, and the score cache key includes it. The seed-compatible method instead
// sends lm.LayoutSeparate requests: prompt and answer tokenized each on its own and
// concatenated, as FlashRAG's cal_gen_probs does (lm.EncodeSeparate); its identity records
// token_layout "separate" and its cache key the layout. On TGI, which takes text only, a pair
// whose one-text tokenization differs from that layout fails permanently.
//
// # Contract
//
// A Teacher is safe for concurrent use; Teach blocks until the LM has answered. Errors that a
// retry cannot fix (no answers for LSR, no passages, a bad request the server rejects with a
// 4xx, a target that cannot be located) are wrapped with streams.Permanent; others (timeouts,
// 5xx, 429 after the client's own retries) are left for the stage runner to retry.
// Close releases the LM and the cache.
package lmteacher
