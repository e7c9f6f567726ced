package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
)

// retrievalOpeners lists the retrieval methods this binary can open on an index directory.
// Add a method here (one line) to make it available to every command.
func retrievalOpeners() retrieval.Openers {
	return retrievalOpenersWith(hybrid.Options{})
}

// retrievalOpenersWith is retrievalOpeners with the hybrid fusion options of the command line.
func retrievalOpenersWith(h hybrid.Options) retrieval.Openers {
	d := dense.Opener(dense.OpenOptions{})
	return retrieval.Openers{
		"bm25":   bm25.Open,
		"dense":  d,
		"hybrid": hybrid.Opener(bm25.Open, d, h),
	}
}

// openRetriever opens an index and the retriever of method, turning the user's mistakes
// (no such index, method unknown or not built) into usage errors.
func openRetriever(ctx context.Context, flagName, dir, method string) (*retrieval.Index, retrieval.Retriever, error) {
	return openRetrieverWith(ctx, retrievalOpeners(), flagName, dir, method)
}

// openRetrieverWith is openRetriever over the given openers.
func openRetrieverWith(ctx context.Context, ops retrieval.Openers, flagName, dir, method string) (*retrieval.Index, retrieval.Retriever, error) {
	if _, ok := ops[method]; !ok {
		return nil, nil, usagef("--method %q is not a retrieval method (methods: %s)", method, strings.Join(ops.Methods(), ", "))
	}
	if err := mustExist(flagName, dir); err != nil {
		return nil, nil, err
	}
	ix, err := retrieval.OpenIndex(dir)
	if err != nil {
		if errors.Is(err, retrieval.ErrNotIndex) {
			return nil, nil, usagef("--%s: %v", flagName, err)
		}
		return nil, nil, err
	}
	r, err := ops.Open(ctx, ix, method)
	if err != nil {
		ix.Close()
		var nb *retrieval.NotBuiltError
		if errors.As(err, &nb) {
			return nil, nil, usagef("%v", err)
		}
		return nil, nil, err
	}
	return ix, r, nil
}

func retrieveCmd() *command {
	return &command{name: "retrieve", summary: "retrieve the top-k passages of each query in a file", run: runRetrieve}
}

func runRetrieve(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "retrieve", "--index DIR --queries Q.jsonl [--method bm25|dense|hybrid [--fusion rrf|sum]] [--topk K] --out R.jsonl [--dead-letters FILE]",
		`Searches each query of a FlashRAG dataset file ({"id","question","golden_answers",...}) and
writes one line per query, in input order:
  {"id","question","golden_answers","gold_doc_ids"?,"docs":[{"id","contents","score"}]}
with docs best first. --method dense needs an index built with --embedder; hybrid fuses
BM25 and dense (over-fetching 4k, at least 100, from each) by reciprocal rank (--fusion rrf,
k=60), by the sum of min-max normalized scores (--fusion sum), or by the raw dense score plus
--lexical-weight times the normalized BM25 score (--fusion linear). Measured on qed/test with
GloVe: plain sum beats BM25 at @5/@20; rrf needs --dense-weight 0.1 (tuned on qed/train).
--adapter applies a query adapter (lsrflow train) to the dense side of dense or hybrid
retrieval; a checkpoint trained for a hybrid brings its fusion and weights unless --fusion
or a weight flag is given.
Bad query lines are dead-lettered (default: R.dead-letters.jsonl next to
--out), counted and skipped; the command still exits 0.`)
	index := f.String("index", "", "index directory (built by lsrflow index)")
	queries := f.String("queries", "", "queries jsonl (FlashRAG dataset format)")
	method := f.String("method", "bm25", "retrieval method: "+strings.Join(retrievalOpeners().Methods(), ", "))
	topk := f.Int("topk", 5, "passages per query")
	out := f.String("out", "", "output jsonl")
	dead := f.String("dead-letters", "", "dead-letter jsonl (default: --out with .dead-letters.jsonl)")
	workers := f.Int("workers", 2, "concurrent searches")
	batch := f.Int("batch-size", 512, "queries per search call for dense and hybrid (FAISS multiplies a batch as one matrix)")
	maxLine := f.Int("max-line-bytes", 1<<20, "longest accepted query line; longer ones are dead-lettered")
	fusion := f.String("fusion", "sum", "hybrid fusion: sum (min-max normalized scores; the better one on QED), rrf (reciprocal rank, k=60) or linear (raw dense score + lexical weight x normalized BM25)")
	denseW := f.Float64("dense-weight", 1, "hybrid: weight of the dense list")
	lexW := f.Float64("lexical-weight", 1, "hybrid: weight of the BM25 list")
	adapterPath := f.String("adapter", "", "dense or hybrid: query adapter checkpoint (lsrflow train) applied to query embeddings")
	if err := f.parse(args); err != nil {
		return err
	}
	fu, err := hybrid.ParseFusion(*fusion)
	if err != nil {
		return usagef("--fusion: %v", err)
	}
	if !(*denseW >= 0) || !(*lexW >= 0) {
		return usagef("--dense-weight and --lexical-weight must be >= 0")
	}
	if err := f.require("index", "queries", "out"); err != nil {
		return err
	}
	if *topk <= 0 {
		return usagef("--topk must be > 0")
	}
	if *workers <= 0 || *maxLine <= 0 || *batch <= 0 {
		return usagef("--workers, --batch-size and --max-line-bytes must be > 0")
	}
	if err := mustExist("queries", *queries); err != nil {
		return err
	}
	if *dead == "" {
		*dead = strings.TrimSuffix(*out, ".jsonl") + ".dead-letters.jsonl"
	}
	userFusion := false
	f.Visit(func(fl *flag.Flag) {
		userFusion = userFusion || fl.Name == "fusion" || fl.Name == "dense-weight" || fl.Name == "lexical-weight"
	})
	ix, srv, err := openServing(ctx, "index", *index, *method, hybrid.Options{Fusion: fu, LexicalWeight: *lexW, DenseWeight: *denseW}, *adapterPath, userFusion)
	if err != nil {
		return err
	}
	defer ix.Close()
	r := srv.r
	if srv.a != nil {
		fmt.Fprintf(sio.err, "lsrflow retrieve: adapter %s as %s\n", srv.a.Version(), r.Info().Version)
	}
	st, err := retrieval.RetrieveFile(ctx, r, retrieval.RetrieveFileOptions{
		Queries: *queries, Out: *out, DeadLetters: *dead, TopK: *topk, Workers: *workers, BatchSize: *batch,
		MaxLineBytes: *maxLine, Progress: sio.err,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "retrieve %s: %d queries, %d bad lines, top-%d by %s, %.2f s (%.1f queries/s) -> %s\n",
		*queries, st.Queries, st.BadLines, *topk, *method, st.Seconds, float64(st.Queries)/max(st.Seconds, 1e-9), *out)
	if *method != "dense" {
		printBM25(sio.out, ix)
	}
	if *method != "bm25" {
		printEncoding(sio.out, ix)
	}
	if st.BadLines > 0 {
		fmt.Fprintf(sio.err, "lsrflow retrieve: %d bad query lines dead-lettered to %s\n", st.BadLines, *dead)
	}
	return nil
}

// printBM25 shows how the index's BM25 side analyzes passages and queries.
func printBM25(w io.Writer, ix *retrieval.Index) {
	if e := ix.Manifest.BM25; e != nil {
		q := e.QueryAnalyzer
		if q == "" {
			q = e.Tokenizer
		}
		fmt.Fprintf(w, "bm25 (from the index manifest): passages %s, queries %s\n", e.Tokenizer, q)
	}
}

// printEncoding shows how the index's dense passages were encoded, which is how every query
// is encoded too.
func printEncoding(w io.Writer, ix *retrieval.Index) {
	if e, ok := ix.Manifest.DenseByName(""); ok && e.Encoding != nil {
		fmt.Fprintf(w, "encoding (from the index manifest): %s\n", e.Encoding)
	}
}
