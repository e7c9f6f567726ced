package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lsrflow/lsrflow/internal/benchscale"
)

func benchScale(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "bench scale", "--passages N --dir DIR [--steps gen,index,...] [--questions Q] [--topk K]",
		`Generates a synthetic wiki-like corpus of N passages (lsrflow gen corpus) in DIR/data, then
runs, one at a time and each as a child process of this binary: index (--embedder glove,
Flat), retrieve with bm25, dense and hybrid over the test questions, faiss-python's batch
search on the same index file (the ceiling of the dense search), synth (bm25, answer-match)
on the train questions, and train. Prints one table: seconds, peak RSS (VmHWM) and the peaks
of RssAnon and RssFile per step, queries/s per method, gold recall@k, bytes per passage on
disk, and dense/faiss. Needs GloVe and faiss-python ('scripts/setup.sh glove faisspy').
Heavy at millions of passages: run it alone, under nice (make bench-scale N=...).`)
	n := f.Int("passages", 0, "corpus size")
	dir := f.String("dir", "", "work directory (data, index and outputs; reused by later --steps runs)")
	steps := f.String("steps", strings.Join(benchscale.Steps, ","), "steps to run, in order")
	questions := f.Int("questions", 2000, "train and test questions each")
	topk := f.Int("topk", 20, "passages per query")
	seed := f.Uint64("seed", 1, "corpus seed")
	python := f.String("python", "/usr/bin/python3", "python3 with faiss-python")
	bin := f.String("bin", "", "lsrflow binary for the steps (default: this one)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("dir"); err != nil {
		return err
	}
	if *n <= 0 {
		return usagef("--passages must be > 0")
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	o := benchscale.Options{Bin: *bin, Python: *python, Dir: *dir, Passages: *n, Seed: *seed,
		Questions: *questions, TopK: *topk, Steps: strings.Split(*steps, ","), Log: sio.err}
	rep, err := benchscale.Run(ctx, o)
	if rep != nil {
		rep.Print(sio.out)
	}
	return err
}

func benchFlashRAGFlat(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "bench flashrag-flat", "--dir DIR [--passages N] [--dim D] [--queries Q] [--keep]",
		`Writes a FlashRAG-style dense index with faiss-python (IndexFlatIP of N clustered unit
vectors of dimension D, faiss.write_index: e5-base over a 1M corpus by default, 3 GB), then
searches the same batch of Q query vectors three ways, each a child process measured for
peak RSS: lsrflow with the file mapped and scanned in place, lsrflow with FAISS reading it
into memory, and faiss-python. Prints the table and the share of faiss-python's top-k ids the
mapped search returned. The index file is removed at the end unless --keep.`)
	dir := f.String("dir", "", "work directory")
	n := f.Int("passages", 1_000_000, "vectors in the index")
	dim := f.Int("dim", 768, "vector dimension")
	queries := f.Int("queries", 1000, "query vectors")
	topk := f.Int("topk", 20, "results per query")
	keep := f.Bool("keep", false, "keep the index file")
	python := f.String("python", "/usr/bin/python3", "python3 with faiss-python")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("dir"); err != nil {
		return err
	}
	if *n <= 0 || *dim <= 0 || *queries <= 0 || *topk <= 0 {
		return usagef("--passages, --dim, --queries and --topk must be > 0")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := benchscale.RunFlashRAGFlat(ctx, benchscale.FlatOptions{Bin: exe, Python: *python, Dir: *dir,
		N: *n, Dim: *dim, Queries: *queries, TopK: *topk, Keep: *keep, Log: sio.err})
	if rep != nil {
		rep.Print(sio.out)
	}
	return err
}

func benchSearchFlat(sio stdio, args []string) error {
	f := newFlags(sio, "bench search-flat", "--index FILE --queries Q.f32 --out IDS.i64 [--topk K] [--in-memory]",
		`Searches a FAISS index file with a batch of query vectors (float32 little-endian, the
index's dimension each) and writes the top-k ids (int64 little-endian, -1 for none); prints
{"queries","seconds","load","mapped"}. The measured child of 'lsrflow bench flashrag-flat'.`)
	index := f.String("index", "", "FAISS index file")
	queries := f.String("queries", "", "query vectors")
	out := f.String("out", "", "ids output")
	topk := f.Int("topk", 20, "results per query")
	inMemory := f.Bool("in-memory", false, "read the index into FAISS's memory instead of mapping it")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("index", "queries", "out"); err != nil {
		return err
	}
	if *topk <= 0 {
		return usagef("--topk must be > 0")
	}
	for _, p := range []struct{ flag, path string }{{"index", *index}, {"queries", *queries}} {
		if err := mustExist(p.flag, p.path); err != nil {
			return err
		}
	}
	line, err := benchscale.SearchFlat(*index, *queries, *out, *topk, *inMemory)
	if err != nil {
		return err
	}
	fmt.Fprintln(sio.out, line)
	return nil
}
