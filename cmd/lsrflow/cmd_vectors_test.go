package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/internal/testenv"
)

func runDenseCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCLI(t.Context(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestVectorsConvert(t *testing.T) {
	dir := t.TempDir()
	wink := filepath.Join(dir, "w.json")
	// norm(3,4) = 5, norm(0,1) = 1; the last number is the word's index
	os.WriteFile(wink, []byte(`{"dimensions":2,"l2NormIndex":2,"wordIndex":3,"words":["a","b"],"vectors":{"b":[0,1,1,1],"a":[3,4,5,0]}}`), 0o644)
	out := filepath.Join(dir, "w.lsrv")
	if code, so, se := runDenseCLI(t, "vectors", "convert", "--wink", wink, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s %s", code, so, se)
	}
	v, err := static.LoadBinary(out)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 2 || v.Row(0)[1] != 4 || v.Word(1) != "b" {
		t.Errorf("converted table: %d words, row0 %v", v.Len(), v.Row(0))
	}
	txt := filepath.Join(dir, "g.txt")
	os.WriteFile(txt, []byte("a 3 4\nb 0 1\n"), 0o644)
	out2 := filepath.Join(dir, "g.lsrv")
	if code, _, se := runDenseCLI(t, "vectors", "convert", "--glove", txt, "--out", out2); code != 0 {
		t.Fatalf("glove text: exit %d: %s", code, se)
	}
	v2, err := static.LoadBinary(out2)
	if err != nil || v2.Checksum() != v.Checksum() {
		t.Errorf("the same vectors from text and wink JSON differ: %v", err)
	}
	if code, so, _ := runDenseCLI(t, "vectors", "info", "--in", out2); code != 0 || !strings.Contains(so, "2 words x 2 dims") {
		t.Errorf("info: exit %d %q", code, so)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"dimensions":2,"words":["a"],"vectors":{}}`), 0o644)
	for _, args := range [][]string{
		{"vectors", "convert", "--wink", bad, "--out", filepath.Join(dir, "x")},
		{"vectors", "convert", "--wink", filepath.Join(dir, "missing.json"), "--out", filepath.Join(dir, "x")},
		{"vectors", "convert", "--wink", wink, "--glove", txt, "--out", filepath.Join(dir, "x")},
		{"vectors", "convert", "--wink", wink},
		{"vectors", "info", "--in", wink},
		{"vectors", "frobnicate"},
	} {
		code, _, se := runDenseCLI(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(se), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q (want 2 and one line)", args, code, se)
		}
	}
	if code, so, _ := runDenseCLI(t, "vectors", "convert", "--help"); code != 0 || !strings.Contains(so, "--wink") {
		t.Errorf("--help: exit %d %q", code, so)
	}
}

// TestIndexAndRetrieveDense builds a QED index with BM25 and GloVe dense (HNSW) through the CLI
// and retrieves with every method; dense and hybrid must find the gold passage as often as
// the package tests measured (loose bounds: this checks the wiring, not the model).
func TestIndexAndRetrieveDense(t *testing.T) {
	testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	corpus := testenv.SharedFile(t, "data/qed/corpus.jsonl")
	queries := testenv.SharedFile(t, "data/qed/test.jsonl")
	dir := t.TempDir()
	ix := filepath.Join(dir, "ix")
	code, so, se := runDenseCLI(t, "index", "--corpus", corpus, "--out", ix, "--embedder", "glove", "--index-factory", "HNSW32,Flat")
	if code != 0 {
		t.Fatalf("index: exit %d: %s %s", code, so, se)
	}
	if !strings.Contains(so, "passages/s") {
		t.Errorf("index output lacks throughput: %q", so)
	}
	recall := map[string]float64{}
	for _, m := range []string{"bm25", "dense", "hybrid", "hybrid-sum"} {
		out := filepath.Join(dir, m+".jsonl")
		args := []string{"retrieve", "--index", ix, "--queries", queries, "--topk", "20", "--out", out, "--method", m}
		if m == "hybrid-sum" {
			args[len(args)-1] = "hybrid"
			args = append(args, "--fusion", "sum")
		}
		if code, so, se := runDenseCLI(t, args...); code != 0 {
			t.Fatalf("retrieve %s: exit %d: %s %s", m, code, so, se)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		n, hit := 0, 0
		for sc.Scan() {
			var r struct {
				Gold []string `json:"gold_doc_ids"`
				Docs []struct {
					ID string `json:"id"`
				} `json:"docs"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			n++
			if len(r.Docs) != 20 {
				t.Fatalf("%s: %d docs, want 20", m, len(r.Docs))
			}
			for _, d := range r.Docs {
				if len(r.Gold) > 0 && d.ID == r.Gold[0] {
					hit++
					break
				}
			}
		}
		f.Close()
		if n != 385 {
			t.Fatalf("%s: %d records, want 385", m, n)
		}
		recall[m] = float64(hit) / float64(n)
	}
	t.Logf("gold@20 via the CLI: %v", recall)
	if recall["dense"] < 0.77 || recall["hybrid-sum"] < recall["bm25"] {
		t.Errorf("gold@20: %v", recall)
	}
	for _, args := range [][]string{
		{"retrieve", "--index", ix, "--queries", queries, "--out", filepath.Join(dir, "x.jsonl"), "--method", "hybrid", "--fusion", "max"},
		{"retrieve", "--index", ix, "--queries", queries, "--out", filepath.Join(dir, "x.jsonl"), "--method", "sparse"},
		{"index", "--corpus", corpus, "--out", filepath.Join(dir, "ix2"), "--embedder", "glove", "--metric", "cosine-ish"},
		{"index", "--corpus", corpus, "--out", filepath.Join(dir, "ix2"), "--import-faiss", filepath.Join(dir, "x.index")},
		{"index", "--corpus", corpus, "--out", filepath.Join(dir, "ix2"), "--embedder", "glove:" + filepath.Join(dir, "none.lsrv")},
	} {
		code, _, se := runDenseCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, stderr %q (want 2)", args[len(args)-2:], code, se)
		}
	}
	// an index without a dense part: dense retrieval is a usage error naming the fix
	ix3 := filepath.Join(dir, "ix3")
	if code, _, se := runDenseCLI(t, "index", "--corpus", corpus, "--out", ix3); code != 0 {
		t.Fatal(se)
	}
	code, _, se = runDenseCLI(t, "retrieve", "--index", ix3, "--queries", queries, "--out", filepath.Join(dir, "y.jsonl"), "--method", "dense")
	if code != 2 || !strings.Contains(se, "--embedder") {
		t.Errorf("dense on a BM25-only index: exit %d, %q", code, se)
	}
}
