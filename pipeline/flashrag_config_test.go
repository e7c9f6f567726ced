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
