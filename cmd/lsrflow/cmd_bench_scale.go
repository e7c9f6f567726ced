package main

import (
	"context"
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
