package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
)

// writeTestVectors writes a ranked vocabulary of 3-letter words with random-ish 4-d vectors.
func writeTestVectors(t *testing.T, path string) {
	t.Helper()
	var words []string
	var data []float32
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			for c := 'a'; c <= 'e'; c++ {
				words = append(words, string([]rune{a, b, c}))
				data = append(data, float32(a-'a'), float32(b-'a'), float32(c-'a'), 1)
			}
		}
	}
	v, err := static.NewVectors(words, 4, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.WriteBinary(path); err != nil {
		t.Fatal(err)
	}
}

// The generated files are deterministic, decode as FlashRAG data, and their questions are
// answerable: BM25 over the generated corpus finds most gold passages.
func TestGenCorpusThenRetrieve(t *testing.T) {
	dir := t.TempDir()
	vec := filepath.Join(dir, "v.lsrv")
	writeTestVectors(t, vec)
	gen := func(out string) {
		t.Helper()
		if code, so, se := cli(t, "gen", "corpus", "--passages", "3000", "--train", "10", "--test", "60", "--vectors", vec, "--out", out); code != 0 {
			t.Fatalf("gen: exit %d: %s %s", code, so, se)
		}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	gen(a)
	gen(b)
	for _, name := range []string{"corpus.jsonl", "train.jsonl", "test.jsonl"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Fatalf("%s: %d bytes, equal to the rerun: %v", name, len(x), bytes.Equal(x, y))
		}
	}
	idx := filepath.Join(dir, "idx")
	if code, so, se := cli(t, "index", "--corpus", filepath.Join(a, "corpus.jsonl"), "--out", idx); code != 0 {
		t.Fatalf("index: exit %d: %s %s", code, so, se)
	}
	res := filepath.Join(dir, "r.jsonl")
	if code, so, se := cli(t, "retrieve", "--index", idx, "--queries", filepath.Join(a, "test.jsonl"), "--topk", "5", "--out", res); code != 0 {
		t.Fatalf("retrieve: exit %d: %s %s", code, so, se)
	}
	f, err := os.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	n, hits := 0, 0
	for sc.Scan() {
		var r retrieval.RetrievedRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		if slices.ContainsFunc(r.Docs, func(d schemas.Passage) bool { return d.ID == r.GoldDocIDs[0] }) {
			hits++
		}
	}
	t.Logf("BM25 top-5 recall %d/%d", hits, n)
	if n != 60 || hits < 45 {
		t.Errorf("%d queries, gold passage in the BM25 top 5 for %d; want 60 and at least 45", n, hits)
	}
	if code, _, _ := cli(t, "gen", "corpus", "--passages", "0", "--out", dir); code != 2 {
		t.Errorf("--passages 0: exit %d, want 2", code)
	}
}
