// Package flashrag reads FlashRAG configs (RUC-NLPIR/FlashRAG's flashrag/config/basic_config.yaml
// and the configs derived from it, such as NLPJCL/RAG-Retrieval's examples/synthetic_data
// flashrag_config.yaml) with FlashRAG's meaning, so that `lsrflow run --config` runs them as
// they are:
//
//   - Parse merges the file over FlashRAG's defaults and resolves it as FlashRAG's Config
//     does: retrieval_method is a model name looked up in model2path (bm25 means BM25),
//     pooling comes from retrieval_pooling_method or model2pooling, index_path from
//     method2index when empty, the generator's path from model2path. Keys lists every
//     top-level key FlashRAG knows and whether lsrflow uses it.
//   - FindSplits and Materialize read {data_dir}/{dataset_name}/{split}.jsonl for every listed
//     split, apply test_sample_num (the first N rows, or random.sample with Python's own
//     generator seeded by seed, internal/pyrandom) and write the rows of the run, with their
//     split as source and, for the seed teacher, the answer the experiment's random.choice
//     picks.
//   - RunDir and Prepare lay outputs out as FlashRAG does, in
//     {save_dir}/{dataset_name}_{%Y_%m_%d_%H_%M}_{save_note}/; an unfinished run of the same
//     inputs is resumed instead of starting a new directory.
//   - EnsureIndex pairs index_path (a FAISS file whose row i is corpus row i) with corpus_path
//     in an lsrflow index directory under {save_dir}/lsrflow-index/, built once and reused
//     while its inputs are unchanged, and records the encoding of FlashRAG's conventions
//     (embed/conventions) so queries are encoded like the indexed passages. For bm25 it builds
//     the analyzer of bm25_backend and records the query analysis FlashRAG applies
//     (BM25QueryAnalyzer: bm25s' unstemmed bm25s.tokenize path by default).
//   - Chat picks the chat template of the generator for the teacher's prompts, as FlashRAG's
//     PromptTemplate decides whether the model is a chat model.
//   - RetrievalMetrics and WriteMetricScore write metric_score.txt with FlashRAG's metric names.
//
// Nothing here starts stages; package pipeline turns Settings into a topology.
package flashrag
