// Package bm25 is a pure-Go BM25 lexical retriever over an index directory's docstore.
//
// Tokens are lowercase runs of Unicode letters and digits (Tokenize). A document d scores
// against a query q as
//
//	score(q, d) = sum over query tokens t (repeats count) of
//	              idf(t) * tf(t,d) * (k1+1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//	idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//
// (Lucene's BM25 with the classic (k1+1) factor; defaults k1 = 0.9, b = 0.4 as in Pyserini).
// Only documents sharing at least one token with the query are returned, so a query with no
// known token (empty, punctuation only, unseen words) returns no documents and no error.
// Results are best first; equal scores are ordered by ordinal (corpus order).
//
// The index lives in memory once loaded (postings, document lengths, vocabulary); passage
// texts stay in the docstore. Save/Load use a little-endian binary file, bm25/index.bin,
// validated on load. Search is safe for concurrent use.
package bm25
