package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/flagembed"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

func exportCmd() *command {
	return &command{name: "export", summary: "export scored records for FlagEmbedding, sentence-transformers or LLM-Embedder", run: runExport}
}

func runExport(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "export", "--in scored.jsonl|scored.parquet|scored.arrow --format flagembedding|sentence-transformers|llm-embedder --out FILE [--split top:1|threshold:P|answer-match]",
		"Converts scored training records into the JSON-lines formats encoder trainers read:\n"+
			"FlagEmbedding {\"query\",\"pos\",\"neg\",\"pos_scores\",\"neg_scores\"}, sentence-transformers\n"+
			"distillation {\"query\",\"pos\",\"neg_1\"..\"neg_n\",\"label\"} or FlagEmbedding's LLM-Embedder\n"+
			"{\"query\",\"pos\",\"neg\",\"teacher_scores\",\"answers\",\"task\"} (teacher_scores over pos then neg).\n"+
			"--split decides the positives: the top N\n"+
			"passages by teacher probability, those with probability >= P, or those containing a gold\n"+
			"answer; the other passages are negatives. Records left without a positive (or with too few\n"+
			"negatives) are skipped and counted. Scores are log-probabilities by default: both trainers\n"+
			"softmax what they read, and softmax(log p) = p.")
	in := f.String("in", "", "scored records: .jsonl, .parquet or .arrow")
	format := f.String("format", "", "flagembedding, sentence-transformers or llm-embedder")
	task := f.String("task", "qa", "llm-embedder task name (qa, convsearch, chat, lrlm, icl, tool)")
	out := f.String("out", "", "output JSON-lines file ('-': stdout); written atomically")
	splitFlag := f.String("split", "top:1", "positives: top:N, threshold:P or answer-match")
	maxNeg := f.Int("max-neg", 0, "at most this many negatives per record, in retrieval order (0: all; flagembedding, llm-embedder)")
	negatives := f.Int("negatives", 4, "number of negative columns neg_1..neg_n (sentence-transformers)")
	scoreKind := f.String("scores", "logprob", "score values: logprob or prob")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("in", "format", "out"); err != nil {
		return err
	}
	if err := mustExist("in", *in); err != nil {
		return err
	}
	split, err := flagembed.ParseSplit(*splitFlag)
	if err != nil {
		return usagef("--split: %v", err)
	}
	split.MaxNeg = *maxNeg
	kind, err := flagembed.ParseScoreKind(*scoreKind)
	if err != nil {
		return usagef("--scores: %v", err)
	}
	fm := flagembed.Format(*format)
	if fm != flagembed.FormatFlagEmbedding && fm != flagembed.FormatSentenceTransformers && fm != flagembed.FormatLLMEmbedder {
		return usagef("--format %q: want flagembedding, sentence-transformers or llm-embedder", *format)
	}
	if *maxNeg < 0 || *negatives < 1 {
		return usagef("--max-neg must be >= 0 and --negatives >= 1")
	}
	read, err := scoredReader(*in)
	if err != nil {
		return err
	}

	var w io.Writer = sio.out
	var tmp *os.File
	if *out != "-" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*.tmp")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name()) // no-op after the rename
		w = tmp
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	exp, err := flagembed.NewExporter(bw, fm, split, kind, *negatives)
	if err != nil {
		return usagef("%v", err)
	}
	if err := exp.SetTask(*task); err != nil {
		return usagef("--task: %v", err)
	}
	bad, err := read(ctx, func(recs []schemas.Scored) error {
		for _, r := range recs {
			if err := exp.Write(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if tmp != nil {
			tmp.Close()
		}
		return fmt.Errorf("export %s: %w", *in, err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), *out); err != nil {
			return err
		}
	}
	st := exp.Stats()
	reasons := make([]string, 0, len(st.Skipped))
	for r, n := range st.Skipped {
		reasons = append(reasons, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(reasons)
	if len(reasons) == 0 {
		reasons = []string{"none"}
	}
	fmt.Fprintf(sio.err, "exported %d of %d records as %s (split %s); skipped: %s; undecodable input lines: %d\n",
		st.Written, st.Read, fm, split, strings.Join(reasons, " "), bad)
	return nil
}

// scoredReader returns a streaming reader of scored records for path, chosen by extension.
// The reader returns the number of undecodable JSON lines it skipped.
func scoredReader(path string) (func(context.Context, func([]schemas.Scored) error) (int, error), error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return func(ctx context.Context, fn func([]schemas.Scored) error) (int, error) {
			return 0, parquet.Format{}.Read(ctx, path, fn)
		}, nil
	case ".arrow", ".arrows", ".feather", ".ipc":
		return func(ctx context.Context, fn func([]schemas.Scored) error) (int, error) {
			return 0, arrowipc.IPC{}.Read(ctx, path, fn)
		}, nil
	case ".jsonl", ".json", ".ndjson":
		return func(ctx context.Context, fn func([]schemas.Scored) error) (int, error) {
			return readScoredJSONL(ctx, path, fn)
		}, nil
	}
	return nil, usagef("--in %s: unknown extension, want .jsonl, .parquet or .arrow", path)
}

func readScoredJSONL(ctx context.Context, path string, fn func([]schemas.Scored) error) (int, error) {
	batch := make([]schemas.Scored, 0, 256)
	bad, err := schemas.DecodeFile(ctx, path, 0, schemas.DecodeScored, func(s schemas.Scored) error {
		if batch = append(batch, s); len(batch) == cap(batch) {
			err := fn(batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = fn(batch)
	}
	return bad, err
}
