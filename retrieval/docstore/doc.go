// Package docstore is an on-disk passage store: ids and contents appended once by a Writer,
// then read by ordinal or by id through memory-mapped files, so that a corpus of millions of
// passages costs page cache, not Go heap.
//
// Ordinals are 0-based positions in write order; they are the vector ids of the FAISS indexes
// and the document numbers of the BM25 index. A store directory holds three files:
//
//	contents.bin  the contents of every passage, concatenated
//	ids.bin       the ids, concatenated
//	offsets.bin   magic "LSRDOCS1", n (uint64 LE), n+1 content offsets, n+1 id offsets
//	              (uint64 LE), then n ordinals (uint32 LE) sorted by id, ties by ordinal
//
// offsets.bin is written last (temp file + rename), so a store without it is unfinished. The
// Writer streams offsets to temporary files while passages are added; its memory is the id
// order Finish sorts (4 bytes per passage), not the offsets.
// Duplicate ids are stored as given; Ordinal returns the first of them and the Writer counts
// them. Reader methods are safe for concurrent use; they return copies, never views into the
// mapping, so a returned string stays valid after Close. Calls after Close return ErrClosed.
package docstore
