// Package evaluate computes lsrflow's evaluation metrics with FlashRAG's exact definitions
// (flashrag/evaluator/metrics.py), on top of textnorm's Python-exact normalization:
//
//   - em: the normalized prediction equals a normalized gold answer;
//   - acc (FlashRAG's sub_em): a normalized gold answer is a substring of the normalized
//     prediction;
//   - f1: token F1 over whitespace tokens, the maximum over gold answers; a pair where either
//     side normalizes to "yes", "no" or "noanswer" and the two differ scores 0;
//   - recall@k (retrieval_recall_top{k}): one of the first k passages, normalized, contains a
//     normalized gold answer;
//   - gold_recall@k: the fraction of the question's gold_doc_ids among the first k passage ids
//     (only over questions that have gold_doc_ids);
//   - mrr / gold_mrr: mean of 1/rank of the first answer-bearing / gold passage (0 if none).
//
// Aggregates also carry FlashRAG's own names: retrieval_recall_top{k} (= recall@k),
// retrieval_precision_top{k} (the share of the first k passages that contain an answer), and
// for predictions precision and recall (token level, each maximised over the gold answers).
// Multiple-choice rows ("choices" with index golden_answers) are scored on the chosen texts.
// With EvalOptions.Regex (FlashRAG's rule for dataset_name curatedtrec) gold answers are
// Python regular expressions: em is re.fullmatch and acc re.search on the normalized
// prediction, with re.IGNORECASE (see CompilePyRegex for what RE2 cannot run).
//
// Empty gold answers follow FlashRAG literally: "" is a substring of everything.
//
// Files: EvalPredictions reads {"id","pred","golden_answers"[,"question"]} lines and writes
// {"id","em","f1","acc"}; EvalRetrieval reads `lsrflow retrieve` output
// ({"id","question","golden_answers","gold_doc_ids"?,"docs":[{"id","contents","score"}]}, or a
// schemas.Candidates line) and writes per-question recall lines. Both return an Aggregate:
// means over the good lines, with counts of lines read, skipped (bad) and overlapping the
// training data. Bad lines are counted and skipped, never fatal. A TrainSet (ids and
// normalized questions of training files) detects evaluation questions that leaked into
// training.
//
// All functions are pure or take their inputs explicitly; nothing here holds global state.
package evaluate
