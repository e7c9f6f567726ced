// Package retrieval defines the Retriever contract and the on-disk index directory.
//
// An index directory (written by `lsrflow index`) holds manifest.json, the passage store
// (docstore: passage ids and contents, read from disk on demand so that a large corpus need not
// live in RAM as Go strings) and one sub-index per method: bm25/ for lexical retrieval, and
// dense/<name>/ for embedders with their FAISS index. Retrievers are safe for concurrent use;
// they return passages best first with their scores.
package retrieval
