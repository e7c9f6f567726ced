package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/lm/gguf/ggufwrite"
)

func modelCmd() *command {
	return &command{name: "model", summary: "write a random-weight GGUF model (demos and tests without downloadable weights)", run: runModel}
}

func runModel(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] != "random" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(sio.out, "Usage: lsrflow model random --out FILE.gguf [--size tiny|bench] [--seed N] [--vocab VOCAB.gguf]")
			return nil
		}
		return usagef("want a subcommand: lsrflow model random --out FILE.gguf")
	}
	cache := os.Getenv("LSRFLOW_CACHE")
	if cache == "" {
		cache = ".cache"
	}
	f := newFlags(sio, "model random", "--out FILE.gguf [--size tiny|bench] [--seed N] [--vocab VOCAB.gguf]",
		`Writes a llama-architecture GGUF with seeded random weights and the tokenizer of a llama.cpp
vocabulary file. Its scores are meaningless as labels: it exists so that the in-process LM
teacher (--teacher lsr --lm gguf:FILE) and its benchmarks run where no weights can be downloaded.
tiny is 64 wide with 2 layers; bench is ~50M parameters (512 wide, 8 layers, f16).`)
	out := f.String("out", "", "GGUF file to write")
	size := f.String("size", "tiny", "tiny or bench")
	seed := f.Uint64("seed", 1, "weight seed")
	vocab := f.String("vocab", filepath.Join(cache, "llama", "src", "models", "ggml-vocab-llama-spm.gguf"), "llama.cpp vocabulary GGUF (from scripts/setup.sh llama)")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if err := f.require("out"); err != nil {
		return err
	}
	if err := mustExist("vocab", *vocab); err != nil {
		return usagef("--vocab %s not found: run scripts/setup.sh llama", *vocab)
	}
	var spec ggufwrite.Spec
	switch *size {
	case "tiny":
		spec = ggufwrite.Tiny(*seed)
	case "bench":
		spec = ggufwrite.Bench(*seed)
	default:
		return usagef("--size %q: want tiny or bench", *size)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := ggufwrite.Write(*out, *vocab, spec); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(sio.out, "model %s: random llama GGUF (%s, seed %d)\n", *out, *size, *seed)
	return nil
}
