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
//   - Close frees the C index; calls after Close return ErrClosed.
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
