// Package benchscale is `lsrflow bench scale` (make bench-scale N=...): it generates a
// synthetic wiki-like corpus (internal/synthcorpus), then indexes it, retrieves with bm25,
// dense and hybrid, runs faiss-python's batch search on the same index file as the ceiling of
// the dense search, synthesizes training data and trains on it, every step as a child process
// of the lsrflow binary, one at a time.
//
// For each step it reports wall seconds, the child's peak resident set (VmHWM from wait4) and
// the peaks of RssAnon and RssFile sampled from /proc/PID/status every 50 ms (RssFile is the
// mapped files' pages, page cache that the kernel can reclaim; RssAnon is what the process
// itself holds), queries per second as the command itself timed its search (index loading
// excluded, for faiss-python as for lsrflow), gold-passage recall@k, the bytes per passage of
// each part of the index on disk, and dense/faiss, the ratio of lsrflow's dense queries per
// second to faiss-python's on the same queries and the same file.
package benchscale
