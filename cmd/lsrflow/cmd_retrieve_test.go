package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
)

func runRetrieveCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCLI(t.Context(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestIndexRetrieveQED runs the commands on the shared QED data, with bad lines mixed
// into the queries, and measures gold-document recall from the output file.
func TestIndexRetrieveQED(t *testing.T) {
	corpus := testenv.SharedFile(t, "data/qed/corpus.jsonl")
	test, err := os.ReadFile(testenv.SharedFile(t, "data/qed/test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := strings.Split(strings.TrimSpace(string(test)), "\n")
	bad := []string{"{oops", `{"id":"e","question":""}`, "[1]", "\xff\xfe", `{"id":"long","question":"` + strings.Repeat("w ", 600) + `"}`}
	mixed := append(append([]string{}, good[:100]...), bad...)
	mixed = append(mixed, good[100:]...)
	queries := filepath.Join(dir, "q.jsonl")
	os.WriteFile(queries, []byte(strings.Join(mixed, "\n")+"\n"), 0o644)

	idx := filepath.Join(dir, "idx")
	code, stdout, stderr := runRetrieveCLI(t, "index", "--corpus", corpus, "--out", idx)
	if code != 0 || !strings.Contains(stdout, "1343 docs, 0 bad lines") {
		t.Fatalf("index: code %d\n%s%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "r.jsonl")
	code, stdout, stderr = runRetrieveCLI(t, "retrieve", "--index", idx, "--queries", queries, "--method", "bm25",
		"--topk", "20", "--out", out, "--max-line-bytes", "1000")
	if code != 0 || !strings.Contains(stdout, "385 queries, 5 bad lines") {
		t.Fatalf("retrieve: code %d\n%s%s", code, stdout, stderr)
	}
	dl, err := os.ReadFile(filepath.Join(dir, "r.dead-letters.jsonl"))
	if err != nil || strings.Count(string(dl), "\n") != 5 {
		t.Errorf("dead letters: %v\n%s", err, dl)
	}

	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(good) {
		t.Fatalf("%d output lines, want %d", len(lines), len(good))
	}
	hits := map[int]int{}
	for i, l := range lines {
		var rec struct {
			ID         string   `json:"id"`
			GoldDocIDs []string `json:"gold_doc_ids"`
			Docs       []struct {
				ID       string   `json:"id"`
				Contents string   `json:"contents"`
				Score    *float64 `json:"score"`
			} `json:"docs"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		var in struct{ ID string }
		json.Unmarshal([]byte(good[i]), &in)
		if rec.ID != in.ID || len(rec.Docs) != 20 || len(rec.GoldDocIDs) == 0 {
			t.Fatalf("line %d: id %s (want %s), %d docs, gold %v", i, rec.ID, in.ID, len(rec.Docs), rec.GoldDocIDs)
		}
		for j, d := range rec.Docs {
			if d.Score == nil || d.Contents == "" || (j > 0 && *d.Score > *rec.Docs[j-1].Score) {
				t.Fatalf("line %d doc %d: not best-first or incomplete", i, j)
			}
		}
		for _, k := range []int{1, 5, 20} {
			found := false
			for _, d := range rec.Docs[:k] {
				for _, g := range rec.GoldDocIDs {
					found = found || d.ID == g
				}
			}
			if found {
				hits[k]++
			}
		}
	}
	n := float64(len(lines))
	t.Logf("lsrflow retrieve --method bm25 on qed/test: gold@1 %.3f gold@5 %.3f gold@20 %.3f",
		float64(hits[1])/n, float64(hits[5])/n, float64(hits[20])/n)
	if float64(hits[1])/n < 0.80 || float64(hits[20])/n < 0.95 {
		t.Errorf("gold recall @1 %.3f @20 %.3f, want >= 0.80 / 0.95", float64(hits[1])/n, float64(hits[20])/n)
	}

	// User mistakes: one line, exit 2.
	for _, args := range [][]string{
		{"retrieve", "--index", idx, "--queries", queries, "--method", "nope", "--out", out},
		{"retrieve", "--index", dir, "--queries", queries, "--out", out},
		{"retrieve", "--index", filepath.Join(dir, "missing"), "--queries", queries, "--out", out},
		{"retrieve", "--index", idx, "--queries", queries, "--topk", "0", "--out", out},
		{"retrieve", "--index", idx, "--out", out},
		{"index", "--corpus", corpus, "--out", filepath.Join(dir, "x"), "--bm25-b", "2"},
		{"index", "--out", filepath.Join(dir, "x")},
	} {
		code, _, stderr := runRetrieveCLI(t, args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: code %d, stderr %q; want 2 and one line", args, code, stderr)
		}
		if strings.Contains(strings.Join(args, " "), "--method nope") && !strings.Contains(stderr, "(methods: bm25") {
			t.Errorf("unknown method message does not list the methods: %q", stderr)
		}
	}
	for _, c := range []string{"index", "retrieve"} {
		if code, stdout, _ := runRetrieveCLI(t, c, "--help"); code != 0 || !strings.Contains(stdout, "Usage: lsrflow "+c) {
			t.Errorf("%s --help: code %d, %q", c, code, stdout)
		}
	}
}
