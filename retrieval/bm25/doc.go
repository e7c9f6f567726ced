// Package bm25 is lsrflow's BM25 lexical retriever: an index file that lives on disk and is
// memory-mapped, built in bounded memory, searched with dynamic pruning.
//
// # Analyzers and scoring
//
// An index is built with one analyzer (package analysis); its name is stored in the file and
// in the manifest ("tokenizer"), and queries are analyzed with it. The names are stable (the
// FlashRAG config mapping relies on them):
//
//	plain   lowercase letter/digit runs; classic BM25 with the (k1+1) factor; k1 0.9, b 0.4.
//	        The default of `lsrflow index`.
//	bm25s   bm25s' analyzer as FlashRAG builds its bm25s index (stopwords, Snowball English
//	        stemmer); bm25s' default scoring (method "lucene": no (k1+1)); k1 1.5, b 0.75.
//	lucene  Pyserini's default analyzer (Anserini's DefaultEnglishAnalyzer: Lucene's
//	        StandardTokenizer, possessives, stopwords, Porter stemmer); Lucene's BM25Similarity
//	        as Pyserini runs it (float32, one-byte length norms); k1 0.9, b 0.4.
//
// For every variant score(q, d) sums, over the distinct query terms t (a term repeated in the
// query counts that many times), idf(t) * f(tf(t,d), |d|) with idf(t) = ln(1 + (N - df(t) +
// 0.5) / (df(t) + 0.5)); see ScoringClassic, ScoringLucene and ScoringBM25S for f. Only
// documents sharing at least one term with the query are returned (a query without known
// terms returns none: bm25s and Lucene would return zero-score documents). Results are best
// first; equal scores are ordered by ordinal (corpus order), which is also Lucene's rule.
//
// Queries are analyzed like the passages unless the index was built with another query
// analyzer (Options.QueryAnalyzer, recorded in the manifest as query_analyzer; Open and
// OpenFileQueries honour it). The one there is reproduces FlashRAG's bm25s path: FlashRAG
// builds its bm25s index with the stemming tokenizer but tokenizes queries with
// bm25s.tokenize's defaults (stopwords removed, no stemming; flashrag/retriever/retriever.py,
// BM25Retriever._search), so only query words that equal a stem match:
// analysis.BM25SUnstemmed, the default of FlashRAG configs with bm25_backend bm25s. The
// retriever's version then ends in "+queries:bm25s-unstemmed".
//
// # File and memory
//
// bm25/index.bin (format 2; see format.go) holds the postings in blocks of 128 documents
// (bit-packed doc gaps and term frequencies) with a per-block maximum score, the sorted
// vocabulary with fixed-size term entries, and the document lengths. OpenFile maps it and
// checks only the header; everything else is read through the page cache as queries touch
// it, so a process searching the index holds no per-document or per-term memory of its own.
// Damaged postings give ErrCorrupt errors, never panics (Verify checks a whole file). A file
// written by older lsrflow versions (format 1) is refused with ErrOldFormat and a re-index
// hint.
//
// Writer (and Step, its retrieval.BuildStep) analyzes passages on Workers goroutines while
// the corpus is read, buffers delta/varint-coded postings per term up to Options.RunBytes,
// spills them as runs sorted by term into Options.TempDir and finally merges the runs into
// the file: memory is the vocabulary plus the run buffer, whatever the corpus size. The same
// corpus gives the same file byte for byte however it was spilled.
//
// # Search
//
// Search is MaxScore over the block postings: query terms are ordered by their maximum
// contribution; terms whose maxima together cannot lift a document above the current k-th
// score are only looked up (skipping whole blocks) for documents the others found. It returns
// exactly what SearchExhaustive (term-at-a-time over all postings, kept as the reference)
// returns: the same documents in the same order with the same scores, because both add a
// document's contributions in the same order. Index and Retriever are safe for concurrent
// use.
package bm25
