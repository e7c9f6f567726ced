// Package scorecache is a durable cache of LM scores: (model, prompt template hash, passage id
// and contents, question, target) -> the target's token log-probabilities. With it a teacher
// never sends a pair to the LM twice: re-scoring after a retriever update, a restart or a
// replay sends only the pairs it has not seen.
//
// The cache is an append-only file of JSON lines, loaded into memory on Open; Put appends and
// fsyncs before returning, so an entry that Put reported is on disk. A torn last line (a crash
// mid-write) is ignored on Open. Float64 values round-trip exactly through the JSON encoding.
// One process owns a cache file at a time; a Cache is safe for concurrent use by goroutines.
// Get and Put block only on the cache's mutex (Put also on the write and fsync).
package scorecache
