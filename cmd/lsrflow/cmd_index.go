package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
)

func indexCmd() *command {
	return &command{name: "index", summary: "build a retrieval index (docstore + BM25) from a corpus", run: runIndex}
}

func runIndex(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "index", "--corpus C.jsonl --out DIR [--max-line-bytes N] [--bm25-k1 K1 --bm25-b B]",
		`Builds an index directory from a FlashRAG corpus ({"id","contents"} lines, contents =
"title\ntext"): DIR/docstore (passage ids and texts), DIR/bm25 and DIR/manifest.json.
Bad corpus lines are written to DIR/dead-letters.jsonl, counted and skipped.`)
	corpus := f.String("corpus", "", "corpus jsonl (FlashRAG format)")
	out := f.String("out", "", "index directory to write")
	maxLine := f.Int("max-line-bytes", 1<<20, "longest accepted corpus line; longer ones are dead-lettered")
	def := bm25.DefaultParams()
	k1 := f.Float64("bm25-k1", def.K1, "BM25 k1")
	b := f.Float64("bm25-b", def.B, "BM25 b")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("corpus", "out"); err != nil {
		return err
	}
	if err := mustExist("corpus", *corpus); err != nil {
		return err
	}
	if *maxLine <= 0 {
		return usagef("--max-line-bytes must be > 0")
	}
	params := bm25.Params{K1: *k1, B: *b}
	if err := params.Validate(); err != nil {
		return usagef("%v", err)
	}
	step, err := bm25.NewStep(params)
	if err != nil {
		return err
	}
	steps := []retrieval.BuildStep{step}
	st, err := retrieval.Build(ctx, retrieval.BuildOptions{
		Corpus: *corpus, Dir: *out, MaxLineBytes: *maxLine, Steps: steps, Progress: sio.err,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "index %s: %d docs, %d bad lines, %d duplicate ids, %.1f s, %.0f docs/s\n",
		*out, st.Docs, st.BadLines, st.DuplicateIDs, st.Seconds, st.DocsPerSecond())
	if st.BadLines > 0 {
		fmt.Fprintf(sio.err, "lsrflow index: %d bad corpus lines dead-lettered to %s\n", st.BadLines, filepath.Join(*out, retrieval.DeadLettersFile))
	}
	return nil
}
