// Package train learns a query-side linear adapter for a dense retriever from scored records
// with REPLUG's LM-supervised retrieval (LSR) loss.
//
// Model: W = I + Δ (full rank, d×d) or W = I + U Vᵀ (rank r; U starts small and random, V at
// zero, so W starts at the identity either way). A query embedding q is mapped to W q; the
// similarity to a passage embedding p is (W q)·p, the same inner product the FAISS index uses.
//
// Loss, per query and never across queries: over the query's passage set S = its k candidates
// (teacher distribution t) plus negatives with teacher probability 0, namely random corpus
// passages and in-batch passages (the best-scored candidate of each other query in the
// mini-batch), the retriever distribution is P = softmax((W q)·p / gamma) over S, and the loss
// is KL(t ‖ P) = Σ_{t_j>0} t_j (log t_j − log P_j). The batch loss is the mean over queries
// plus l2 · ‖W − I‖²_F (the pull toward the identity that keeps whole-corpus retrieval intact).
// Gradients are analytic and checked against central finite differences in float64
// (Objective.Gradient). Optimizer: Adam. Everything is float64 and deterministic given the
// seed: mini-batches, negatives and the low-rank init come from one PCG stream.
//
// Data: passage embeddings come from the embedder applied to the index's docstore (row i =
// docstore ordinal i); candidates are found by passage id (passages unknown to the index are
// embedded from the record's text). Question embeddings come from the same embedder (kind
// Query). Records whose teacher distribution is uniform carry no preference and are skipped
// by default (answer-match records without an answer-bearing passage).
//
// Evaluation: gold-document recall@k (the fraction of a question's gold_doc_ids in the top k,
// evaluate.GoldRecallAt) with whole-corpus retrieval. LeakGuard refuses evaluation questions
// that were training questions (same id, or same question after textnorm.Normalize, the same
// normalization evaluate.TrainSet uses) unless forced, and always reports the overlap.
//
// Checkpoints are retrieval/adapter safetensors files (Trainer.Checkpoint).
package train
