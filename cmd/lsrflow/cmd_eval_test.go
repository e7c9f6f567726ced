package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runCLI(t.Context(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lastJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last stdout line is not JSON: %q", stdout)
	}
	return m
}

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	preds := writeFile(t, dir, "p.jsonl", `{"id":"q1","question":"Which tower?","pred":"the Eiffel Tower","golden_answers":["Eiffel Tower"]}
{broken
{"id":"q2","pred":"no","golden_answers":["yes"]}
`)
	out := filepath.Join(dir, "m.jsonl")
	code, stdout, stderr := runForTest(t, "eval", "--predictions", preds, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	agg := lastJSON(t, stdout)
	if agg["em"] != 0.5 || agg["n"] != 2.0 || agg["bad_lines"] != 1.0 {
		t.Errorf("aggregate %v", agg)
	}
	if !strings.Contains(stderr, "skipped 1 bad lines") {
		t.Errorf("stderr %q", stderr)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "{\"id\":\"q1\",\"em\":1,\"f1\":1,\"acc\":1}\n{\"id\":\"q2\",\"em\":0,\"f1\":0,\"acc\":0}\n" {
		t.Errorf("per-line output %q", got)
	}

	// Leakage guard: refuse, report the count, accept with --force; files may follow --train.
	train := writeFile(t, dir, "scored.jsonl", `{"id":"x","query":"which TOWER","pos":[],"scores":[]}`+"\n")
	other := writeFile(t, dir, "train.jsonl", `{"id":"q2","question":"other"}`+"\n")
	code, _, stderr = runForTest(t, "eval", "--predictions", preds, "--train", train)
	if code != 2 || !strings.Contains(stderr, "1 of 2 evaluation questions also appear in the training data") {
		t.Errorf("leak not refused: exit %d, %q", code, stderr)
	}
	code, stdout, stderr = runForTest(t, "eval", "--predictions", preds, "--train", train, other, "--force")
	if code != 0 || lastJSON(t, stdout)["train_overlap"] != 2.0 || !strings.Contains(stderr, "2 of 2 evaluated questions overlap") {
		t.Errorf("--force: exit %d, %q %q", code, stdout, stderr)
	}

	retr := writeFile(t, dir, "r.jsonl", `{"id":"a","question":"q","golden_answers":["Paris"],"gold_doc_ids":["2"],"docs":[{"id":"1","contents":"Rome","score":2},{"id":"2","contents":"Paris\nFrance","score":1}]}`+"\n")
	code, stdout, stderr = runForTest(t, "eval", "--retrieval", retr, "--k", "1,2")
	if code != 0 {
		t.Fatalf("retrieval exit %d: %s", code, stderr)
	}
	agg = lastJSON(t, stdout)
	if agg["recall@1"] != 0.0 || agg["recall@2"] != 1.0 || agg["mrr"] != 0.5 || agg["gold_recall@2"] != 1.0 {
		t.Errorf("retrieval aggregate %v", agg)
	}

	for _, args := range [][]string{
		{"eval"},
		{"eval", "--predictions", preds, "--retrieval", retr},
		{"eval", "--predictions", filepath.Join(dir, "missing.jsonl")},
		{"eval", "--retrieval", retr, "--k", "0"},
		{"eval", "--predictions", preds, "stray"},
	} {
		if code, _, stderr := runForTest(t, args...); code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
