// Package evaluate is the evaluate stage: a streams.Processor that consumes candidate sets
// (schemas.Candidates, the retrieve stage's output) and measures retrieval quality
// continuously, per retriever version, with the FlashRAG definitions of package
// github.com/lsrflow/lsrflow/evaluate (answer recall@k, gold-document recall@k, MRR).
//
// For every candidate set it
//   - updates running means per retriever version and exports them as Prometheus gauges on
//     the registry given to New (lsrflow_eval_recall{retriever_version,k},
//     lsrflow_eval_gold_recall{retriever_version,k}, lsrflow_eval_mrr{retriever_version}) and
//     counts lsrflow_eval_queries_total{retriever_version};
//   - returns one message for the metrics topic, keyed by retriever version, whose value is a
//     Record: the query's own scores and the running aggregate of its version.
//
// Undecodable inputs are permanent errors (the runner dead-letters them). A candidate set
// seen again for the same retriever version (at-least-once redelivery) is re-emitted but not
// counted twice; the running state lives in memory and starts afresh with the process.
// Process is safe for concurrent use.
package evaluate
