// Package onnx embeds texts with transformer encoders (BERT, MiniLM, e5, bge exported to ONNX)
// through ONNX Runtime (github.com/yalue/onnxruntime_go and libonnxruntime.so.1).
//
// A model directory holds model.onnx and tokenizer.json, optionally config.json and a
// sentence-transformers layout: modules.json naming a Pooling module whose config.json selects
// pooling_mode_cls_token or pooling_mode_mean_tokens, and a Normalize module. Options override
// pooling (mean, cls, or pooler: the graph's pooler_output), normalization, prefixes (e5:
// "query: " / "passage: ") and the token caps (queries may have their own); no cap exceeds the
// model's max_position_embeddings.
//
// The encoder must take int64 input_ids and attention_mask [batch, seq] (token_type_ids too when
// the graph declares it) and return either token states [batch, seq, hidden] (pooled here: mean
// over attended tokens or the first token) or a pooled [batch, hidden] output. Texts are
// tokenized with special tokens, truncated to the tokenizer's max length (or Options.MaxLength,
// else config.json's max_position_embeddings, else 512), padded per batch of BatchSize texts.
//
// ONNX Runtime's environment is process-global in onnxruntime_go (one shared-library path, one
// OrtEnv created by InitializeEnvironment, which fails when called twice). This package
// initializes it once per process behind a sync.Once; every Encoder shares it, and a later Open
// asking for a different library path gets an error instead of silently using the first.
// The environment is never destroyed (sessions of other Encoders may still be live).
//
// An Encoder is safe for concurrent use (ORT sessions allow concurrent Run); Close releases the
// session.
package onnx
