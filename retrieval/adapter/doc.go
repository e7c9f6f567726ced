// Package adapter is the query-side linear adapter applied at query time, and its checkpoint
// file format.
//
// Contract:
//   - Linear maps a query vector q to W q (W is d×d, stored in float32; the trainer's
//     low-rank form I + U Vᵀ is materialized into W). It implements dense.QueryAdapter: Apply
//     never modifies its argument and is safe for concurrent use; a Linear is immutable.
//   - Version() is "v<N>-<digest>": N is the checkpoint's monotone version number (0 for an
//     untrained identity), digest a short hash of W, so two different maps never share a
//     version string. ParseVersion recovers N from a retriever version ("...+adapter:v3-...").
//   - Checkpoints are safetensors files written and read by this package's own small codec
//     (WriteSafetensors / ReadSafetensors): an 8-byte little-endian header length, a JSON header
//     {"__metadata__": {string: string}, name: {"dtype","shape","data_offsets"}} padded with
//     spaces to 8 bytes, then the raw little-endian tensor data. The reader checks every offset
//     and size and never panics on a corrupt file. Save writes atomically (temp file, fsync,
//     rename, fsync of the directory).
//   - Metadata records the version, the base embedder name (Load refuses to pair a checkpoint
//     with a different embedder through Check), the training data digest, the seed, the steps,
//     the evaluation metrics, the training query ids and normalized-question hashes (the
//     leakage guard reads them), and Serving: the retriever the adapter was trained for
//     (dense, or hybrid with its fusion and weights, and which data chose the weights).
//   - Serve builds the retriever that applies an adapter: the base dense retriever with it,
//     fused with a lexical retriever when one is given, as the checkpoint's Serving says
//     (else with the caller's fusion). retrieve --adapter, synth/run with an adapter and the
//     train stage's follower all serve through it.
//   - Retriever pairs a dense retriever that has no adapter of its own with one fixed Linear:
//     its Search and Info are consistent by construction (a hot swap replaces the whole
//     Retriever through processors/retrieve's Swap, so a candidate set is always stamped with
//     the adapter that produced it).
package adapter
