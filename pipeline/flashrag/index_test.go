package flashrag

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed/conventions"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

func writeCorpus(t *testing.T, path string, n int, bad string) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"%d","contents":"Title %d\nsome text about %d"}`+"\n", i, i, i)
	}
	b.WriteString(bad)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFAISS(t *testing.T, path string, rows, dim int) {
	t.Helper()
	x, err := faissx.New(dim, "Flat", faissx.InnerProduct)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	v := make([]float32, rows*dim)
	for i := range v {
		v[i] = float32(i%7) / 7
	}
	if err := x.Add(v); err != nil {
		t.Fatal(err)
	}
	if err := x.Save(path); err != nil {
		t.Fatal(err)
	}
}

// index_path (a FAISS file) is paired with corpus_path: the index is built once and reused
// while both are unchanged; a corpus whose readable rows do not number the FAISS vectors is
// refused with both numbers, and one with unreadable rows (which would shift row ordinals)
// is refused too.
func TestEnsureIndexPairsFAISSWithCorpus(t *testing.T) {
	model := filepath.Join(testenv.SharedDir(t), "models", "model2vec-bge-base-q128")
	testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors")
	dir := t.TempDir()
	enc, _ := conventions.FlashRAG("e5", conventions.Options{})
	s := &Settings{SaveDir: filepath.Join(dir, "out"), RetrievalMethod: "e5", ModelPath: model, Encoding: enc,
		CorpusPath: filepath.Join(dir, "corpus.jsonl"), IndexPath: filepath.Join(dir, "e5_Flat.index")}
	writeCorpus(t, s.CorpusPath, 10, "")
	writeFAISS(t, s.IndexPath, 10, 64)
	ix, err := EnsureIndex(t.Context(), s, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ix.Built || ix.Method != "dense" || ix.Encoding == nil || ix.Encoding.Prefixes.Query != "query: " || ix.Encoding.Pooling != "" {
		t.Fatalf("%+v %s", ix, ix.Encoding)
	}
	m, err := retrieval.ReadManifest(ix.Dir)
	if err != nil || m.NumDocs != 10 || m.Dense[0].Encoding == nil || m.Dense[0].Encoding.Convention != "flashrag:e5" {
		t.Fatalf("manifest %+v %v", m, err)
	}
	again, err := EnsureIndex(t.Context(), s, 0, nil)
	if err != nil || again.Built || again.Dir != ix.Dir {
		t.Fatalf("second call: %+v %v; want the index reused", again, err)
	}

	writeCorpus(t, s.CorpusPath, 11, "")
	_, err = EnsureIndex(t.Context(), s, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "10 vectors") || !strings.Contains(err.Error(), "11 passages") {
		t.Errorf("11 rows for 10 vectors: %v", err)
	}
	writeCorpus(t, s.CorpusPath, 10, "{not json\n")
	writeFAISS(t, s.IndexPath, 11, 64)
	_, err = EnsureIndex(t.Context(), s, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "could not be read") {
		t.Errorf("an unreadable corpus row: %v", err)
	}

	s.ModelPath = "intfloat/e5-base-v2"
	if _, err := EnsureIndex(t.Context(), s, 0, nil); err == nil || !strings.Contains(err.Error(), "not a local directory") {
		t.Errorf("a hub id as the model: %v", err)
	}
}

func TestEnsureIndexBM25(t *testing.T) {
	dir := t.TempDir()
	s := &Settings{SaveDir: filepath.Join(dir, "out"), RetrievalMethod: "bm25", BM25Backend: "bm25s",
		CorpusPath: filepath.Join(dir, "corpus.jsonl"), IndexPath: filepath.Join(dir, "bm25s-index")}
	writeCorpus(t, s.CorpusPath, 5, "")
	ix, err := EnsureIndex(t.Context(), s, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := retrieval.ReadManifest(ix.Dir)
	if err != nil || m.BM25 == nil || m.BM25.K1 != 1.5 || m.BM25.B != 0.75 || m.BM25.Tokenizer != "bm25s" || ix.Method != "bm25" {
		t.Fatalf("manifest %+v %v", m.BM25, err)
	}
	if len(ix.Warnings) == 0 || !strings.Contains(strings.Join(ix.Warnings, "\n"), "is not read") {
		t.Errorf("warnings %q", ix.Warnings)
	}
	// Pyserini's backend: the Lucene English analyzer with LuceneSearcher's k1 0.9, b 0.4
	s.BM25Backend = "pyserini"
	ix2, err := EnsureIndex(t.Context(), s, 0, nil)
	if err != nil || ix2.Dir == ix.Dir {
		t.Fatalf("%+v %v", ix2, err)
	}
	m, _ = retrieval.ReadManifest(ix2.Dir)
	if m.BM25 == nil || m.BM25.Tokenizer != "lucene" || m.BM25.K1 != 0.9 || m.BM25.B != 0.4 {
		t.Errorf("pyserini: %+v", m.BM25)
	}
}
