package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/internal/progress"
	"github.com/lsrflow/lsrflow/internal/synthcorpus"
)

func genCmd() *command {
	return &command{name: "gen", summary: "generate data (gen corpus: a synthetic wiki-like corpus with questions)", run: runGen}
}

func runGen(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(sio.out, `Usage: lsrflow gen SUBCOMMAND [flags]

Subcommands:
  corpus   a deterministic wiki-like corpus of Zipf-distributed GloVe words, with questions
           whose gold passages and answers are known (see 'lsrflow gen corpus --help')`)
		return nil
	}
	if args[0] != "corpus" {
		return usagef("unknown subcommand %q (want corpus)", args[0])
	}
	return genCorpus(ctx, sio, args[1:])
}

func genCorpus(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "gen corpus", "--passages N --out DIR [--train Q] [--test Q] [--seed S] [--vectors FILE]",
		`Writes DIR/corpus.jsonl (FlashRAG corpus: {"id","contents"}, contents "Title\ntext"),
DIR/train.jsonl and DIR/test.jsonl (FlashRAG datasets with "gold_doc_ids"; disjoint).
Passages are ~100 words drawn from a Zipf distribution over the vocabulary of --vectors
(GloVe's, ranked by frequency), grouped into articles that share a title and topic words.
A question asks with words around an answer word of its gold passage. The output depends
only on the flags and the vocabulary: the same command writes the same bytes, and the corpus
of N passages is a prefix of the corpus of 2N. See internal/synthcorpus/doc.go.`)
	n := f.Int("passages", 0, "number of passages")
	out := f.String("out", "", "output directory")
	train := f.Int("train", 2000, "questions in train.jsonl")
	test := f.Int("test", 2000, "questions in test.jsonl")
	seed := f.Uint64("seed", 1, "random seed")
	words := f.Int("words", synthcorpus.DefaultWordsPerPassage, "words per full passage")
	perArticle := f.Int("passages-per-article", synthcorpus.DefaultPassagesPerArticle, "mean passages per article")
	zipfS := f.Float64("zipf", synthcorpus.DefaultZipfS, "Zipf exponent s (p(rank r) ~ r^-s)")
	vectors := f.String("vectors", "", "word vectors whose vocabulary ranks the words (default: the GloVe cache of 'scripts/setup.sh glove')")
	workers := f.Int("workers", 0, "generator goroutines (default: GOMAXPROCS)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("out"); err != nil {
		return err
	}
	if *n <= 0 {
		return usagef("--passages must be > 0")
	}
	path := *vectors
	if path == "" {
		p, err := static.DefaultGlovePath()
		if err != nil {
			return usagef("%v", err)
		}
		path = p
	} else if err := mustExist("vectors", path); err != nil {
		return err
	}
	vec, err := static.LoadBinary(path)
	if err != nil {
		return usagef("--vectors %s: %v", path, err)
	}
	ranked := make([]string, vec.Len())
	for i := range ranked {
		ranked[i] = vec.Word(i)
	}
	vec = nil // only the words are needed
	g, err := synthcorpus.New(ranked, synthcorpus.Options{Passages: *n, Train: *train, Test: *test, Seed: *seed,
		WordsPerPassage: *words, PassagesPerArticle: *perArticle, ZipfS: *zipfS, Workers: *workers})
	if err != nil {
		return usagef("%v", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	bar := progress.New(sio.err, "gen: passages", *n)
	last := 0
	size, err := writeAtomicFile(filepath.Join(*out, "corpus.jsonl"), func(w *os.File) error {
		return g.WriteCorpus(ctx, w, func(done int) { bar.Add(done - last); last = done })
	})
	if err != nil {
		return err
	}
	bar.Done()
	secs := time.Since(start).Seconds()
	if _, err := writeAtomicFile(filepath.Join(*out, "train.jsonl"), func(train *os.File) error {
		_, err := writeAtomicFile(filepath.Join(*out, "test.jsonl"), func(test *os.File) error {
			return g.WriteQuestions(ctx, train, test)
		})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "gen corpus %s: %d passages (%d-word vocabulary, seed %d), %.0f MB, %.1f s (%.0f passages/s); %d train + %d test questions\n",
		*out, *n, g.Vocabulary(), *seed, float64(size)/1e6, secs, float64(*n)/max(secs, 1e-9), *train, *test)
	return nil
}

// writeAtomicFile creates path through a temporary file in the same directory that write
// fills; it is synced and renamed into place only when write succeeds. It returns the size.
func writeAtomicFile(path string, write func(*os.File) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		tmp.Close()
		return 0, err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("sync %s: %w", path, err)
	}
	st, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	return st.Size(), nil
}
