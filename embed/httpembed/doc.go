// Package httpembed embeds texts through an OpenAI-compatible POST /v1/embeddings endpoint
// (Hugging Face TEI, vLLM, Ollama, OpenAI).
//
// Request: {"model": M, "input": [texts...], "encoding_format": "float"}. Response:
// {"data": [{"index": i, "embedding": [...]}, ...]}; items are placed by their index field, so
// servers may answer out of order. Texts are sent in batches of BatchSize with at most
// Concurrency requests in flight. Each request has its own Timeout. Network errors, timeouts,
// 408, 429 and 5xx are retried up to MaxRetries times with exponential backoff and jitter,
// waiting the Retry-After header (seconds or HTTP date) instead when the server sends one.
// Other 4xx answers fail at once with the status and the server's message, marked
// streams.Permanent (retrying cannot fix a bad request or key).
//
// A Client is safe for concurrent use.
package httpembed
