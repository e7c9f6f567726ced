// Package faissx wraps FAISS (through github.com/DataIntelligenceCrew/go-faiss) for lsrflow's
// dense retrieval: build any index_factory description ("Flat", "HNSW32,Flat", "IVF64,Flat",
// "IVF64,SQ8", "PQ16", ...) with inner-product or L2 metric, train it when the description needs
// training, add vectors, search in batches, and save/load FAISS's own on-disk format. Files
// written by faiss-python (FlashRAG's `{method}_{type}.index`, row i = corpus line i) load with
// Load and search like an index built here.
//
// Contract:
//   - Vector ids are row ordinals 0..Len()-1 in Add order (ids the index returns as -1, when
//     fewer than k vectors qualify, are dropped from results).
//   - Search and the read-only accessors are safe for concurrent use; Train, Add, SetParam and
//     Close take an exclusive lock. Every FAISS call runs on a locked OS thread so that the C
//     API's thread-local error message belongs to the call that failed.
//   - Bad input (wrong vector length, k <= 0, unknown factory string, unreadable file) returns
//     an error; it never crashes the process.
//   - Reconstruct returns stored vectors by row (Flat, HNSW, IVF with an id map built on first
//     use; lossy codes such as PQ give FAISS's decoded approximation, the vectors the index
//     scores against); the query-adapter trainer reads passage vectors this way.
//   - Close frees the C index; calls after Close return ErrClosed.
//   - Flat files at scale. FlatWriter streams vectors into a Flat index file (byte for byte
//     what faiss.write_index writes) without holding them in memory. Load(path, true) maps a
//     Flat file (IndexFlatIP/IndexFlatL2, whoever wrote it) read-only and searches it in place:
//     one OpenBLAS sgemm per block of 4096 rows x 1024 queries and a k-heap per query, as
//     FAISS's exhaustive_inner_product_blas does, so resident memory is the page cache the
//     scan touches plus buffers proportional to the batch. (FAISS 1.7.3 copies Flat vectors
//     into memory whatever the IO flags; with mmap it maps only IVF inverted lists.) Results
//     equal FAISS's IndexFlat search (ties in float32 may order differently). A mapped index
//     is read-only: Add returns an error, Train does nothing, Save copies the file.
//
// Building and running. The package is cgo. It needs the FAISS C API archive that
// `scripts/setup.sh faiss` builds into .cache/faiss and Debian's libfaiss-dev, libopenblas-dev.
// The Makefile exports the flags (and `. scripts/goenv.sh` sets them in a shell); by hand, from
// the repository root:
//
//	export CGO_CFLAGS="-I$PWD/.cache/faiss/include"
//	export CGO_LDFLAGS="-L$PWD/.cache/faiss/lib -lfaiss_c /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -lgomp -lstdc++ -lm"
//
// (-lfaiss_c must precede libfaiss.a, and .cache/faiss/lib must hold only the static
// libfaiss_c.a, else the linker picks a shared library.)
//
// Threads. FAISS parallelizes with OpenMP. On a loaded machine OpenMP's busy-waiting can make
// a batch search 10x slower than one thread; set OMP_NUM_THREADS (e.g. 1) in the environment
// when many processes share few cores.
package faissx
