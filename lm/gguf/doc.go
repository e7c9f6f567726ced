// Package gguf scores text with an in-process GGUF model through libllama (llama.cpp), driven
// by github.com/hybridgroup/yzma (pure-Go FFI, no cgo).
//
// # Scoring
//
// Model.Score tokenizes each request with the model's own vocabulary and splits it into
// context and target tokens as every backend does (lm.EncodeRequest: lm-evaluation-harness'
// rules, BOS once even when the prompt writes it, or the seed layout's separately encoded
// prompt and target). The shared
// token prefix of all requests of one call (the system instruction of the prompt) is decoded
// once into sequence 0 with no outputs; for every distinct prompt stem, sequence 0 is copied to
// sequence 1 (llama_memory_seq_cp) and only the rest of the stem is decoded, together with the
// first target's tokens. Further targets of the same stem (several gold answers) branch from
// the decoded stem: the previous target is removed from the cache (llama_memory_seq_rm) and
// only the new target's tokens are decoded. Full-vocabulary logits are requested only where a
// target token is predicted. Log-softmax is computed in float64.
//
// The context is created with flash attention off and a non-unified KV cache: then batched,
// prefix-reused and one-at-a-time scoring give bit-identical log-probabilities (with flash
// attention or a unified cache they differ by up to 1e-2 on this build).
//
// # Library state
//
// libllama has process-global state (the loaded shared objects, the backend registry and the
// log callback). Loading happens once per process in a sync.Once, because neither yzma nor
// llama.cpp support loading twice; every model must use the same library directory.
//
// # Concurrency
//
// A Model owns one llama context. Its methods are safe for concurrent use but serialized by a
// mutex: on a CPU, prompt processing is compute-bound and one decode already uses every
// thread. Calls block until done; ctx is checked between decode calls.
package gguf
