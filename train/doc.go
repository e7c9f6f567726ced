// Package train learns a query-side linear adapter for a dense retriever from scored records
// with REPLUG's LM-supervised retrieval (LSR) loss, for the retriever that serves it: the
// dense retriever alone, or a hybrid of BM25 and the adapted dense retriever.
//
// Model: W = I + Δ (full rank, d×d) or W = I + U Vᵀ (rank r; U starts small and random, V at
// zero, so W starts at the identity either way). A query embedding q is mapped to W q; the
// dense score of a passage embedding p is (W q)·p, the inner product the FAISS index uses.
// For a hybrid the score is (W q)·p + λ·lex(p), lex the passage's min-max normalized BM25
// score in the query's BM25 top list (0 outside it): exactly hybrid.Linear's fusion. λ is a
// parameter (Config.LearnLex, λ = exp(θ)) or fixed (Trainer.LexWeight).
//
// Loss, per query and never across queries: over the query's passage set S = its k candidates
// (teacher distribution t) plus negatives with teacher probability 0, namely random passages
// of the index and in-batch passages (the best-scored candidate of each other query in the
// mini-batch), the retriever distribution is P = softmax(score / gamma) over S, and the loss
// is KL(t ‖ P) = Σ_{t_j>0} t_j (log t_j − log P_j). The batch loss is the mean over queries
// plus l2 · ‖W − I‖²_F (the pull toward the identity that keeps whole-corpus retrieval intact).
// Gradients (W and θ) are analytic and checked against central finite differences in float64
// (Objective.Gradient). Optimizer: Adam. Everything is computed in float64 and deterministic
// given the seed: mini-batches, negatives, the negative pool and the low-rank init come from
// one PCG stream, whose state is saved with the trainer (State, LoadState).
//
// Data and memory: passage vectors are read from the index (VectorSource: FAISS Reconstruct,
// or the rows of a mapped Flat file) by docstore ordinal, never re-embedded. Passages is a
// reference-counted cache of the vectors in use: the dataset's candidates, a pool of NegPool
// random index passages (sampled once from the seed) the random negatives are drawn from,
// and passages met in records but absent from the index (embedded from the record's text).
// Memory therefore follows the training records and the pool, not the corpus. A Dataset
// keeps at most Window examples (the newest; evicted ones release their rows). Questions are
// embedded with the index's embedder (kind Query). Records whose teacher distribution is
// uniform carry no preference and are skipped by default.
//
// Tuning and evaluation: HeldOut splits training queries by a hash of their id into a
// held-out share that is never trained on; HeldOutQuery turns such a record into an
// evaluation query whose relevant passages are those the teacher preferred. Fit (the batch
// run of `lsrflow train`) trains on the rest and tunes the hybrid's lexical weight on the
// held-out queries (TuneLexWeight: mean teacher_hit@1/5/20 over LexGrid), never on evaluation
// questions. Evaluator ranks fixed questions by whole-corpus retrieval through the index (one
// batched search per adapter; BM25 lists fetched once) as dense or as the fused hybrid, and
// reports gold_recall@k (questions with gold_doc_ids) and teacher_hit@k / teacher_recall@k /
// teacher_mrr (held-out records). LeakGuard refuses evaluation questions that were training
// questions (same id, or same question after textnorm.Normalize, the normalization
// evaluate.TrainSet uses) unless forced, and always reports the overlap; the identity of
// every query ever trained on (evicted ones too) goes into the checkpoint.
//
// Checkpoints are retrieval/adapter safetensors files (Trainer.Adapter) whose metadata names
// the retriever they were trained for (adapter.Serving: method, fusion, weights, and which
// data chose the weights).
package train
