// Package dense is lsrflow's dense retriever: an embedder (embed.Embedder) for queries, a FAISS
// index (retrieval/faissx) over the passage embeddings whose vector ids are docstore ordinals,
// and the index directory's docstore for the passage texts.
//
// Contract:
//   - Retriever implements retrieval.BatchRetriever and is safe for concurrent use. Scores are
//     the FAISS scores (inner product, or squared L2 distance for L2 indexes), best first.
//   - An optional QueryAdapter maps query vectors before the search (the trainer's query-side
//     linear map); documents are untouched, so swapping it needs no re-indexing. SetAdapter
//     swaps it atomically: a search in flight finishes with the adapter it started with, and
//     SearchInfo returns the passages together with the exact version that produced them.
//     Info().Version names the embedder, the index and the adapter version.
//   - Step is the retrieval.BuildStep of `lsrflow index --embedder ...`: it embeds the finished
//     docstore in batches (kind Passage), trains the FAISS index on a sample when the
//     index_factory description needs training, adds every vector and writes
//     dense/<name>/faiss.index plus the manifest's dense entry. For "glove" it first fits the SIF
//     embedder on the corpus (two streaming passes) and saves it as dense/<name>/sif.json.
//     With Import set it adopts an existing FAISS file instead (FlashRAG's {method}_{type}.index
//     written by faiss-python over the same corpus: row i = corpus line i), after checking its
//     size and dimension.
//   - Opener reopens what Step wrote; it checks that the embedder it opens has the name that
//     was recorded at build time, so a query is never embedded by a different model than the
//     passages were.
package dense
