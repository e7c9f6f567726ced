package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lsrflow/lsrflow/evaluate"
)

func evalCmd() *command {
	return &command{name: "eval", summary: "score predictions (EM/F1/acc) or retrieval (recall@k, MRR)", run: runEval}
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runEval(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "eval", "(--predictions P.jsonl | --retrieval R.jsonl [--k 1,5,20]) [--out M.jsonl] [--train FILE...] [--force]",
		`Scores predictions ({"id","pred","golden_answers"} lines) with FlashRAG's EM, F1 and acc, or
retrieval output ({"id","question","golden_answers","gold_doc_ids"?,"docs":[...]}) with answer
recall@k, gold-document recall@k and MRR. The aggregate also has FlashRAG's names:
retrieval_recall_top{k}, retrieval_precision_top{k}, and precision/recall for predictions.
Multiple-choice rows ("choices" with index golden_answers) are scored on the chosen texts.
Per-line scores go to --out; the aggregate is printed as one JSON object on the last line of
stdout. Bad lines are counted, reported and skipped.
--train names training files (scored.jsonl or dataset jsonl; repeat the flag or list files
after it): evaluation questions found there, by id or normalized text, make eval refuse
unless --force.`)
	preds := f.String("predictions", "", "predictions jsonl")
	retr := f.String("retrieval", "", "retrieval jsonl (lsrflow retrieve output)")
	out := f.String("out", "", "per-line metrics jsonl to write")
	kList := f.String("k", "1,5,20", "retrieval cut-offs, comma-separated")
	label := f.String("label", "", `label stored in the aggregate (e.g. "before", "after")`)
	force := f.Bool("force", false, "evaluate even when questions overlap the training data")
	datasetName := f.String("dataset-name", "", "FlashRAG's dataset_name: curatedtrec makes gold answers regular expressions (em: full match, acc: search)")
	var train listFlag
	f.Var(&train, "train", "training file to check for overlap (repeatable)")
	// Files listed after --train without the flag repeated are training files too.
	for {
		if err := f.parse(args); err == nil {
			break
		} else if f.NArg() == 0 || len(train) == 0 {
			return err
		}
		rest := f.Args()
		train = append(train, rest[0])
		args = rest[1:]
	}
	if (*preds == "") == (*retr == "") {
		return usagef("give exactly one of --predictions and --retrieval")
	}
	in := *preds + *retr
	inFlag := map[bool]string{true: "predictions", false: "retrieval"}[*preds != ""]
	if err := mustExist(inFlag, in); err != nil {
		return err
	}
	ks, err := evaluate.ParseCutoffs(*kList)
	if err != nil {
		return usagef("--k: %v", err)
	}
	var ts *evaluate.TrainSet
	if len(train) > 0 {
		if ts, err = loadTrainSet(train); err != nil {
			return err
		}
	}

	src, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open %s: %w", in, err)
	}
	defer src.Close()
	var w io.Writer
	var tmp *os.File
	if *out != "" {
		if tmp, err = os.CreateTemp(filepath.Dir(*out), ".eval-*.tmp"); err != nil {
			return usagef("--out %s: %v", *out, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	var agg evaluate.Aggregate
	if *preds != "" {
		agg, err = evaluate.EvalPredictionsWith(ctx, src, w, ts, evaluate.EvalOptions{Regex: *datasetName == "curatedtrec"})
	} else {
		agg, err = evaluate.EvalRetrieval(ctx, src, w, ks, ts)
	}
	if err != nil {
		return fmt.Errorf("evaluate %s: %w", in, err)
	}
	agg.Label = *label
	if ts != nil {
		fmt.Fprintf(sio.err, "lsrflow eval: %d of %d evaluated questions overlap the training data (%d lines in %d files)\n",
			agg.Overlap, agg.N, ts.Lines, ts.Files)
		if agg.Overlap > 0 && !*force {
			return usagef("%d of %d evaluation questions also appear in the training data: evaluating on them leaks labels; use a disjoint split or pass --force", agg.Overlap, agg.N)
		}
	}
	if agg.Bad > 0 {
		first := agg.BadLines[0]
		fmt.Fprintf(sio.err, "lsrflow eval: skipped %d bad lines of %s (first: line %d, %s: %s)\n", agg.Bad, in, first.Line, first.Reason, first.Detail)
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		if err := os.Rename(tmp.Name(), *out); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	b, err := json.Marshal(agg)
	if err != nil {
		return err
	}
	fmt.Fprintln(sio.out, string(b))
	return nil
}

func loadTrainSet(paths []string) (*evaluate.TrainSet, error) {
	ts := evaluate.NewTrainSet()
	for _, p := range paths {
		if err := mustExist("train", p); err != nil {
			return nil, err
		}
		fh, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		_, err = ts.Add(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return ts, nil
}
