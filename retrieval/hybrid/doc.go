// Package hybrid fuses a lexical (BM25) and a dense retriever.
//
// Each retriever is asked for more than k passages (over-fetch: max(Overfetch*k, MinFetch)),
// concurrently; the two lists are fused by passage id and the top k returned:
//   - RRF (reciprocal rank fusion, Cormack et al. 2009): score = sum over lists of
//     w_list / (K + rank), rank 1-based, K = 60 by default; a passage absent from a list
//     contributes nothing from it.
//   - Sum (normalized score sum): each list's scores are min-max normalized to [0, 1] (a list
//     whose scores are all equal normalizes to 1), then w_list * normalized score is summed;
//     absent passages contribute 0.
//   - Linear: w_lexical * (min-max normalized lexical score) + w_dense * (raw dense score, an
//     inner product); a passage absent from the dense list is given the list's lowest dense
//     score (an upper bound of its true one), absent from the lexical list 0. This is the
//     scoring function package train optimizes when it learns the lexical weight together
//     with a query adapter, so a checkpoint trained for it is served by the function it was
//     trained on (up to that bound).
//
// Ties are broken by the better (lower) best rank, then by passage id, so results are
// deterministic. Weights default to 1 for both lists. The fused Score is the fusion score.
// A Retriever is immutable (WithDense builds a new one over another dense retriever, e.g. a
// new adapter version), so Search and Info always agree. It is safe for concurrent use when
// both of its retrievers are; SearchBatch uses their batch search when they implement
// retrieval.BatchRetriever.
package hybrid
