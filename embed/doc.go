// Package embed defines the Embedder contract shared by every text-embedding backend:
// static word vectors (embed/static: GloVe with SIF weighting, Model2Vec), ONNX transformer
// encoders (embed/onnx) and OpenAI-compatible /v1/embeddings servers (embed/httpembed).
//
// Embedders are batched and safe for concurrent use. The Kind of a text (query or passage)
// selects the model's prefix (e5: "query: ", "passage: "); vectors are L2-normalized when the
// embedder's options say so, which makes inner product equal cosine similarity.
package embed
