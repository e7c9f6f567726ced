package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Both real FlashRAG config files load as they are: FlashRAG mode, lsrflow's method and top-k
// from them, and one warning listing the FlashRAG keys lsrflow does not use.
func TestLoadRealFlashRAGConfigs(t *testing.T) {
	for _, name := range []string{"flashrag_basic_config.yaml", "rag-retrieval_flashrag_config.yaml"} {
		p, _ := filepath.Abs(filepath.Join("flashrag", "testdata", name))
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.FlashRAG == nil || c.RetrievalMethod != "dense" || c.RetrievalTopK != 5 || c.Teacher.Method != "answer-match" {
			t.Errorf("%s: flashrag=%v method %q topk %d teacher %q", name, c.FlashRAG != nil, c.RetrievalMethod, c.RetrievalTopK, c.Teacher.Method)
		}
		if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "faiss_gpu") || !strings.Contains(c.Warnings[0], "gpu_id") {
			t.Errorf("%s: warnings %q", name, c.Warnings)
		}
	}
}

func TestFlashRAGConfigWithLsrflowKeys(t *testing.T) {
	base, _ := os.ReadFile(filepath.Join("flashrag", "testdata", "rag-retrieval_flashrag_config.yaml"))
	body := string(base) + "\nteacher:\n  method: seed\n  lm: http://127.0.0.1:8000/v1\nsinks: [parquet]\n"
	c, err := LoadConfig(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	// generator_model llama2-7B-chat -> model2path -> Meta-Llama-3-8B-Instruct, a chat model
	if c.Teacher.Model != "meta-llama/Meta-Llama-3-8B-Instruct" || c.Teacher.Options["chat"] != "llama3" || c.Sinks[0] != "parquet" {
		t.Errorf("teacher %+v sinks %v", c.Teacher, c.Sinks)
	}
	// an LM URL without a method means lsr
	c, err = LoadConfig(writeConfig(t, string(base)+"\nteacher: {lm: http://127.0.0.1:8000/v1}\n"))
	if err != nil || c.Teacher.Method != "lsr" {
		t.Errorf("teacher %+v %v", c.Teacher, err)
	}
}

func TestUnknownKeysSayWhatWasMeant(t *testing.T) {
	for body, want := range map[string]string{
		"data_dri: x\n":      `unknown key "data_dri" (did you mean "data_dir"?)`,
		"retrival_topk: 3\n": `unknown key "retrival_topk" (did you mean "retrieval_topk"?)`,
		"model2pooling: {}\nteacher: {mehtod: seed}\n": `unknown key "mehtod" (did you mean "method"?)`,
		"dataset_name: nq\nzzz_qqq: 1\n":               `unknown key "zzz_qqq" (not a key`,
		"dataset_name: nq\nindex_embedder: glove\n":    "index_embedder and index_factory are for lsrflow configs",
	} {
		_, err := LoadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want it to say %s", body, err, want)
		}
	}
}

// PrepareFlashRAG lays the run out FlashRAG's way and, for the seed teacher, draws each row's
// answer upstream; a second run of the same config after completion starts a new directory.
func TestPrepareFlashRAGSeedRun(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "data", "nq"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "nq", "test.jsonl"), []byte(
		`{"id":"test_0","question":"who?","golden_answers":["A","B","C"]}`+"\n"+
			`{"id":"test_1","question":"what?","golden_answers":["only"]}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(root, "corpus.jsonl"), []byte(`{"id":"1","contents":"T\nA only"}`+"\n"), 0o644)
	cfg := filepath.Join(root, "config.yaml")
	os.WriteFile(cfg, []byte("data_dir: data\ndataset_name: nq\nsave_dir: out\ncorpus_path: corpus.jsonl\n"+
		"retrieval_method: bm25\ngenerator_model: llama3-8B-instruct\nteacher: {method: seed, lm: http://127.0.0.1:1/v1}\n"), 0o644)
	c, err := LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths()
	r, err := PrepareFlashRAG(t.Context(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(c.SaveDir), "nq_") || !strings.HasSuffix(c.SaveDir, "_experiment") || c.RetrievalMethod != "bm25" {
		t.Errorf("save dir %s method %s", c.SaveDir, c.RetrievalMethod)
	}
	if c.Teacher.Options["chat"] != "llama3" || c.Teacher.Model != "llama3-8B-instruct" {
		t.Errorf("teacher %+v", c.Teacher)
	}
	b, _ := os.ReadFile(c.DatasetPath)
	if strings.Count(string(b), `"seed_answer"`) != 2 || !strings.Contains(string(b), `"seed_answer":"only"`) || !strings.Contains(string(b), `"source":"nq/test"`) {
		t.Errorf("queries:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(c.SaveDir, "config.yaml")); err != nil {
		t.Error("the run directory has no copy of the config")
	}
	if _, _, err := FinishFlashRAG(t.Context(), c, r); err != nil {
		t.Fatal(err)
	}
	first := c.SaveDir
	c2, _ := LoadConfig(cfg)
	c2.ResolvePaths()
	if _, err := PrepareFlashRAG(t.Context(), c2, nil); err != nil || c2.SaveDir == first {
		t.Errorf("after completion: %s (first %s) %v", c2.SaveDir, first, err)
	}
}

// lsrflow's own configs keep their meaning: the demo topology is not a FlashRAG config.
func TestDemoConfigStaysLsrflow(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "deploy", "demo", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.FlashRAG != nil || c.RetrievalMethod != "hybrid" || c.IndexEmbedder != "glove" || c.Train == nil || c.Train.Every != 30 || len(c.Warnings) != 0 {
		t.Errorf("demo config: %+v", c)
	}
}

// bm25_backend bm25s analyzes queries as FlashRAG does (unstemmed) unless lsrflow's
// bm25_query_analyzer says otherwise; pyserini analyzes them like the passages; the key is
// refused where it means nothing.
func TestFlashRAGBM25QueryAnalyzer(t *testing.T) {
	base, _ := os.ReadFile(filepath.Join("flashrag", "testdata", "flashrag_basic_config.yaml"))
	bm25 := strings.Replace(string(base), `retrieval_method: "e5"`, `retrieval_method: "bm25"`, 1)
	pyserini := strings.Replace(bm25, `bm25_backend: bm25s`, `bm25_backend: pyserini`, 1)
	for _, tc := range []struct{ extra, want string }{
		{"", "bm25s-unstemmed"},
		{"\nbm25_query_analyzer: bm25s\n", "bm25s"},
		{"\nbm25_query_analyzer: bm25s-unstemmed\n", "bm25s-unstemmed"},
		{"pyserini", "lucene"},
	} {
		body := bm25 + tc.extra
		if tc.extra == "pyserini" {
			body = pyserini
		}
		c, err := LoadConfig(writeConfig(t, body))
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if got := c.FlashRAG.BM25Queries(); got != tc.want {
			t.Errorf("%q: queries %s, want %s", tc.extra, got, tc.want)
		}
	}
	for body, want := range map[string]string{
		pyserini + "\nbm25_query_analyzer: bm25s-unstemmed\n":                                      "cannot search a lucene index",
		bm25 + "\nbm25_query_analyzer: porter\n":                                                   "cannot search a bm25s index",
		string(base) + "\nbm25_query_analyzer: bm25s\n":                                            "applies to retrieval_method bm25",
		"dataset_path: q.jsonl\nsave_dir: out\ncorpus_path: c.jsonl\nbm25_query_analyzer: bm25s\n": "is for FlashRAG configs",
	} {
		_, err := LoadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want it to say %s", body[max(0, len(body)-80):], err, want)
		}
	}
}
