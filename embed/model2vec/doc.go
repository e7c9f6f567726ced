// Package model2vec embeds texts with Model2Vec static models: a directory holding
// model.safetensors, tokenizer.json and config.json.
//
// The safetensors file has "embeddings" (F32, F16 or F64, [rows, dim]), and optionally "mapping"
// (I32/I64, one row index per token id, for vocabulary-quantized models whose rows are shared by
// several tokens) and "weights" (F64/F32, one weight per token id). A text is embedded as
// Model2Vec's StaticModel.encode does: tokenize without special tokens (the input first cut to
// MaxTokens * median token length characters), drop unknown tokens, keep the first MaxTokens
// ids, then take the mean over tokens of weights[id] * embeddings[mapping[id]] (weight 1 and
// identity mapping when absent). A text without tokens embeds to the zero vector. Vectors are
// L2-normalized when config.json says "normalize": true, unless Options overrides it.
//
// Model is read-only after Open and safe for concurrent use.
package model2vec
