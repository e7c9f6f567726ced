package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

func runMyCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCLI(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func exportFixture() []schemas.Scored {
	mk := func(id string, scores []float64, match []bool) schemas.Scored {
		return schemas.Scored{SchemaVersion: 1, ID: id, Query: "query " + id, Pos: []string{"P0", "P1", "P2"}, Scores: scores,
			PassageIDs: []string{"a", "b", "c"}, RetrieverScores: []float64{3, 2, 1}, TeacherScores: []float64{0, 0, 0},
			AnswerMatch: match, TeacherKey: "tk"}
	}
	return []schemas.Scored{
		mk("q1", []float64{0.2, 0.7, 0.1}, []bool{true, false, false}),
		mk("q2", []float64{0.5, 0.25, 0.25}, []bool{false, false, false}),
	}
}

func TestExportFormatsAndInputs(t *testing.T) {
	dir := t.TempDir()
	recs := exportFixture()
	var jl bytes.Buffer
	for _, r := range recs {
		b, _ := json.Marshal(r)
		jl.Write(b)
		jl.WriteString("\n")
	}
	jl.WriteString("{not json}\n")
	jsonlPath := filepath.Join(dir, "scored.jsonl")
	if err := os.WriteFile(jsonlPath, jl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pqDir := filepath.Join(dir, "pq")
	s, err := parquet.Open(ctx, arrowipc.Config{Dir: pqDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		_, _ = s.Write(ctx, r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	wantFlag := `{"query":"query q1","pos":["P1"],"neg":["P0","P2"],"pos_scores":[0.7],"neg_scores":[0.2,0.1]}` + "\n" +
		`{"query":"query q2","pos":["P0"],"neg":["P1","P2"],"pos_scores":[0.5],"neg_scores":[0.25,0.25]}` + "\n"
	for _, in := range []string{jsonlPath, filepath.Join(pqDir, "scored.parquet")} {
		out := filepath.Join(dir, "flag-"+filepath.Base(in)+".jsonl")
		code, _, stderr := runMyCLI(t, "export", "--in", in, "--format", "flagembedding", "--out", out, "--scores", "prob")
		if code != 0 {
			t.Fatalf("export %s: exit %d: %s", in, code, stderr)
		}
		got, _ := os.ReadFile(out)
		if string(got) != wantFlag {
			t.Fatalf("export %s:\n got %s\nwant %s", in, got, wantFlag)
		}
	}
	if _, _, stderr := runMyCLI(t, "export", "--in", jsonlPath, "--format", "flagembedding", "--out", filepath.Join(dir, "x.jsonl")); !strings.Contains(stderr, "undecodable input lines: 1") {
		t.Fatalf("bad line not counted: %s", stderr)
	}

	// answer-match split with sentence-transformers: q2 has no positive and is skipped.
	out := filepath.Join(dir, "st.jsonl")
	code, _, stderr := runMyCLI(t, "export", "--in", jsonlPath, "--format", "sentence-transformers", "--split", "answer-match", "--negatives", "2", "--scores", "prob", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	if want := `{"query":"query q1","pos":"P0","neg_1":"P1","neg_2":"P2","label":[0.2,0.7,0.1]}` + "\n"; string(got) != want {
		t.Fatalf("st export:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(stderr, "no_positive=1") {
		t.Fatalf("skip not reported: %s", stderr)
	}
}

func TestExportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "scored.jsonl")
	_ = os.WriteFile(in, nil, 0o644)
	for _, args := range [][]string{
		{"export", "--in", in, "--out", "x"},
		{"export", "--in", filepath.Join(dir, "missing.jsonl"), "--format", "flagembedding", "--out", "x"},
		{"export", "--in", in, "--format", "csv", "--out", "x"},
		{"export", "--in", in, "--format", "flagembedding", "--out", "x", "--split", "top:0"},
		{"export", "--in", filepath.Join(dir, "scored.txt"), "--format", "flagembedding", "--out", "x"},
	} {
		if args[2] == filepath.Join(dir, "scored.txt") {
			_ = os.WriteFile(args[2], nil, 0o644)
		}
		code, _, stderr := runMyCLI(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one-line usage error, exit 2", args, code, stderr)
		}
	}
}

func TestExportLLMEmbedder(t *testing.T) {
	dir := t.TempDir()
	var jl bytes.Buffer
	for _, r := range exportFixture() {
		b, _ := json.Marshal(r)
		jl.Write(b)
		jl.WriteString("\n")
	}
	in := filepath.Join(dir, "scored.jsonl")
	os.WriteFile(in, jl.Bytes(), 0o644)
	out := filepath.Join(dir, "llm.jsonl")
	if code, _, se := runMyCLI(t, "export", "--in", in, "--format", "llm-embedder", "--out", out); code != 0 {
		t.Fatalf("export: %d %s", code, se)
	}
	b, _ := os.ReadFile(out)
	// q1: P1 (0.7) is the positive, P0 and P2 the negatives; scores are log-probabilities
	want := `{"query":"query q1","pos":["P1"],"neg":["P0","P2"],"teacher_scores":[-0.35667494393873245,-1.6094379124341003,-2.3025850929940455],"answers":[],"task":"qa"}`
	if first := strings.SplitN(string(b), "\n", 2)[0]; first != want {
		t.Errorf("first line\n%s\nwant\n%s", first, want)
	}
	if code, _, se := runMyCLI(t, "export", "--in", in, "--format", "llm-embedder", "--task", "nope", "--out", out); code != 2 || !strings.Contains(se, "--task") {
		t.Errorf("bad task: %d %s", code, se)
	}
}
