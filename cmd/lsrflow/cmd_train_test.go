package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
)

// TestTrainAndRetrieveWithAdapter: index (glove) -> synth (dense, answer-match) on 150 qed/train
// questions -> train (parquet + jsonl inputs, short run) with qed/test as the held-out set ->
// retrieve --adapter. Training on the evaluation file itself is refused unless --force.
func TestTrainAndRetrieveWithAdapter(t *testing.T) {
	testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	dir := t.TempDir()
	index := filepath.Join(dir, "index")
	if code, out, errs := cli(t, "index", "--corpus", testenv.SharedFile(t, "data/qed/corpus.jsonl"), "--embedder", "glove", "--out", index); code != 0 {
		t.Fatalf("index: %d %s %s", code, out, errs)
	}
	b, err := os.ReadFile(testenv.SharedFile(t, "data/qed/train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 151)[:150]
	queries := filepath.Join(dir, "q.jsonl")
	if err := os.WriteFile(queries, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	synth := filepath.Join(dir, "synth")
	if code, out, errs := cli(t, "synth", "--index", index, "--queries", queries, "--teacher", "answer-match", "--topk", "20", "--method", "dense", "--out", synth); code != 0 {
		t.Fatalf("synth: %d %s %s", code, out, errs)
	}
	ck := filepath.Join(dir, "adapter.safetensors")
	test := testenv.SharedFile(t, "data/qed/test.jsonl")
	code, out, errs := cli(t, "train", "--index", index, "--data", filepath.Join(synth, "scored.parquet"), "--data", filepath.Join(synth, "scored.jsonl"),
		"--eval", test, "--out", ck, "--steps", "100", "--seed", "3")
	if code != 0 {
		t.Fatalf("train: %d %s %s", code, out, errs)
	}
	for _, want := range []string{"leakage check: 0 of 385", "@1 ", "@5 ", "@20 ", "adapter v1-"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	a, err := adapter.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta.Version != 1 || a.Meta.Steps != 100 || a.Meta.Seed != 3 || a.Meta.Metrics["gold_recall@5"] == 0 || len(a.Meta.TrainIDs) == 0 {
		t.Errorf("checkpoint metadata %+v", a.Meta)
	}
	// the index has BM25 and a dense index: the adapter was trained for the hybrid, and says so
	sv := a.Meta.Serving
	if sv.Method != "hybrid" || sv.Fusion != "linear" || !(sv.LexicalWeight > 0) || sv.WeightsFrom == "" ||
		!strings.Contains(out, "serving: hybrid") || !strings.Contains(out, "bm25 ") {
		t.Errorf("serving %+v\n%s", sv, out)
	}
	// a second run bumps the version
	if code, _, errs := cli(t, "train", "--index", index, "--data", filepath.Join(synth, "scored.jsonl"), "--out", ck, "--steps", "10"); code != 0 {
		t.Fatalf("train again: %d %s", code, errs)
	}
	if a2, err := adapter.Load(ck); err != nil || a2.Meta.Version != 2 {
		t.Fatalf("second checkpoint: %v %v", a2, err)
	}
	// leakage: evaluating on the training questions is refused, and allowed (reported) with --force
	code, _, errs = cli(t, "train", "--index", index, "--data", filepath.Join(synth, "scored.jsonl"), "--eval", queries, "--out", filepath.Join(dir, "x.safetensors"), "--steps", "5")
	if code != 2 || !strings.Contains(errs, "leakage") {
		t.Fatalf("eval on training questions: exit %d, %s", code, errs)
	}
	code, out, errs = cli(t, "train", "--index", index, "--data", filepath.Join(synth, "scored.jsonl"), "--eval", queries, "--force", "--out", filepath.Join(dir, "x.safetensors"), "--steps", "5")
	if code != 0 || !strings.Contains(out, "FORCED") {
		t.Fatalf("forced: exit %d, %s %s", code, out, errs)
	}
	// retrieve applies the adapter and stamps nothing else: output is ordinary retrieve output
	res := filepath.Join(dir, "r.jsonl")
	if code, out, errs := cli(t, "retrieve", "--index", index, "--method", "dense", "--adapter", ck, "--queries", test, "--topk", "5", "--out", res); code != 0 {
		t.Fatalf("retrieve --adapter: %d %s %s", code, out, errs)
	}
	// hybrid: the checkpoint's fusion and weights, unless the user names a fusion
	code, out, errs = cli(t, "retrieve", "--index", index, "--method", "hybrid", "--adapter", ck, "--queries", test, "--topk", "5", "--out", res)
	if code != 0 || !strings.Contains(errs, "linear(w=") || !strings.Contains(errs, "+adapter:v2-") {
		t.Fatalf("retrieve --method hybrid --adapter: %d %s %s", code, out, errs)
	}
	code, out, errs = cli(t, "retrieve", "--index", index, "--method", "hybrid", "--fusion", "rrf", "--adapter", ck, "--queries", test, "--topk", "5", "--out", res)
	if code != 0 || !strings.Contains(errs, "rrf(k=60)") {
		t.Fatalf("retrieve --method hybrid --fusion rrf --adapter: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, "retrieve", "--index", index, "--method", "bm25", "--adapter", ck, "--queries", test, "--out", res); code != 2 || !strings.Contains(errs, "--method dense") {
		t.Fatalf("retrieve --adapter with bm25: %d %s", code, errs)
	}
}
