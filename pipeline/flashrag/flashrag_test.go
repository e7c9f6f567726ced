package flashrag

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
)

const python = "/usr/bin/python3"

func parseFile(t *testing.T, path string) *Settings {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(path, b, &root)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func parseString(t *testing.T, body string) (*Settings, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(body), &root); err != nil {
		t.Fatal(err)
	}
	return Parse(p, []byte(body), &root)
}

// Both real config files parse as they are, with FlashRAG's resolution of each key.
func TestRealConfigs(t *testing.T) {
	dir, _ := filepath.Abs("testdata")
	basic := parseFile(t, filepath.Join(dir, "flashrag_basic_config.yaml"))
	if basic.RetrievalMethod != "e5" || basic.ModelPath != "intfloat/e5-base-v2" || basic.TopK != 5 ||
		basic.DatasetName != "nq" || strings.Join(basic.Splits, ",") != "test" || basic.SampleNum != nil ||
		basic.Seed != 2024 || basic.SaveNote != "experiment" || basic.BM25Backend != "bm25s" ||
		basic.GeneratorModelPath != "llama3-8B-instruct" || basic.Framework != "fschat" || basic.RecallTopK != 5 ||
		basic.IndexPath != "" || basic.CorpusPath != "" || basic.DataDir != filepath.Join(dir, "dataset") ||
		basic.SaveDir != filepath.Join(dir, "output") {
		t.Errorf("basic_config: %s", describe(basic))
	}
	e := basic.Encoding
	if e.Prefixes.Query != "query: " || e.Prefixes.Passage != "passage: " || e.Pooling != "mean" || !*e.Normalize || e.QueryMaxLength != 128 {
		t.Errorf("basic_config encoding: %s", e)
	}
	if c, err := basic.Chat(); err != nil || c != "llama3" {
		t.Errorf("basic_config generator llama3-8B-instruct: chat %q %v", c, err)
	}
	for _, k := range []string{"gpu_id", "faiss_gpu", "retrieval_use_fp16", "generation_params", "metrics"} {
		if !strings.Contains(","+strings.Join(basic.Unused, ",")+",", ","+k+",") {
			t.Errorf("unused keys %v lack %s", basic.Unused, k)
		}
	}

	rr := parseFile(t, filepath.Join(dir, "rag-retrieval_flashrag_config.yaml"))
	if rr.IndexPath != filepath.Join(dir, "index/e5_Flat.index") ||
		rr.CorpusPath != filepath.Join(dir, "ignore/FlashRAG_datasets/retrieval-corpus/wiki-18.jsonl") ||
		rr.DataDir != filepath.Join(dir, "ignore/FlashRAG_datasets") || rr.Framework != "hf" ||
		rr.GeneratorModelPath != "meta-llama/Meta-Llama-3-8B-Instruct" || rr.BM25Backend != "bm25s" {
		t.Errorf("rag-retrieval config: %s", describe(rr))
	}
	if c, err := rr.Chat(); err != nil || c != "llama3" {
		t.Errorf("rag-retrieval generator: chat %q %v", c, err)
	}
}

func describe(s *Settings) string {
	c := *s
	c.ConfigBytes = nil
	return fmt.Sprintf("%+v", c)
}

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		body  string
		check func(*Settings) string
	}{
		{"split: ~\n", func(s *Settings) string { return strings.Join(s.Splits, ",") }},                         // train,dev,test
		{"split: dev\n", func(s *Settings) string { return strings.Join(s.Splits, ",") }},                       // dev
		{"seed: abc\n", func(s *Settings) string { return fmt.Sprint(s.Seed) }},                                 // 2025
		{"retrieval_method: bge\n", func(s *Settings) string { return s.ModelPath + "|" + s.Encoding.Pooling }}, // BAAI...|cls
		{"retrieval_method: bge\nretrieval_pooling_method: mean\n", func(s *Settings) string { return s.Encoding.Pooling }},
		{"retrieval_method: dpr\nmodel2pooling: {dpr: cls}\n", func(s *Settings) string { return s.Encoding.Pooling }},
		{"retrieval_method: my_e5\nmodel2pooling: {my: cls}\n", func(s *Settings) string { return s.Encoding.Pooling }}, // e5 comes first
		{"retrieval_method: e5\nmethod2index: {e5: idx/e5_Flat.index}\n", func(s *Settings) string { return filepath.Base(s.IndexPath) }},
		{"instruction: 'Find: '\n", func(s *Settings) string { return s.Encoding.Prefixes.Query + "|" + s.Encoding.Prefixes.Passage }},
		{"generator_model: llama2-7B-chat\n", func(s *Settings) string { return s.GeneratorModelPath }},
		{"bm25_backend: pyserini\nretrieval_method: bm25\n", func(s *Settings) string { return fmt.Sprintf("%s %v", s.Method(), s.BM25Params()) }},
		{"metric_setting: {retrieval_recall_topk: 20}\n", func(s *Settings) string { return fmt.Sprint(s.RecallTopK) }},
	} {
		s, err := parseString(t, tc.body)
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		want := map[string]string{
			"split: ~\n": "train,dev,test", "split: dev\n": "dev", "seed: abc\n": "2025",
			"retrieval_method: bge\n":                                       "BAAI/bge-base-en-v1.5|cls",
			"retrieval_method: bge\nretrieval_pooling_method: mean\n":       "mean",
			"retrieval_method: dpr\nmodel2pooling: {dpr: cls}\n":            "cls",
			"retrieval_method: my_e5\nmodel2pooling: {my: cls}\n":           "mean",
			"retrieval_method: e5\nmethod2index: {e5: idx/e5_Flat.index}\n": "e5_Flat.index",
			"instruction: 'Find: '\n":                                       "Find: |Find: ",
			"generator_model: llama2-7B-chat\n":                             "meta-llama/Llama-2-7b-chat-hf",
			"bm25_backend: pyserini\nretrieval_method: bm25\n":              "bm25 {0.9 0.4}",
			"metric_setting: {retrieval_recall_topk: 20}\n":                 "20",
		}[tc.body]
		if got := tc.check(s); got != want {
			t.Errorf("%q: got %q, want %q", tc.body, got, want)
		}
	}
	for _, bad := range []string{
		"bm25_backend: lucene\n", "retrieval_topk: 0\n", "retrieval_topk: five\n", "random_sample: maybe\n",
		"dataset_path: x\n", "split: [a/b]\n", "model2path: [1]\n", "retrieval_pooling_method: max\n",
		"test_sample_num: -1\n",
	} {
		if _, err := parseString(t, bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestChat(t *testing.T) {
	for path, want := range map[string]string{
		"meta-llama/Meta-Llama-3-8B-Instruct": "llama3",
		"llama3-8B-instruct":                  "llama3",
		"meta-llama/Llama-2-7b-hf":            "plain",
		"Qwen/Qwen2-7B":                       "plain",
		"meta-llama/Llama-3.1-8B-Instruct":    "",
		"meta-llama/Llama-2-7b-chat-hf":       "",
	} {
		s := &Settings{GeneratorModelPath: path, Framework: "hf"}
		got, err := s.Chat()
		if want == "" {
			if err == nil {
				t.Errorf("%s: chat %q, want an error", path, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", path, got, err, want)
		}
	}
	// a generator directory is recognised by its chat template
	dir := t.TempDir()
	tc := testenv.CachePath(t, "tokenizers", "tokenizers", "models", "llama3", "tokenizer_config.json")
	b, _ := os.ReadFile(tc)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644)
	s := &Settings{GeneratorModelPath: filepath.Join(dir, "my-instruct-model")}
	os.Mkdir(s.GeneratorModelPath, 0o755)
	os.WriteFile(filepath.Join(s.GeneratorModelPath, "tokenizer_config.json"), b, 0o644)
	if got, err := s.Chat(); err != nil || got != "llama3" {
		t.Errorf("directory with Llama-3's tokenizer_config.json: %q %v", got, err)
	}
	os.WriteFile(filepath.Join(s.GeneratorModelPath, "tokenizer_config.json"), []byte(`{"chat_template":"{{ messages }}"}`), 0o644)
	if _, err := s.Chat(); err == nil {
		t.Error("an unknown chat template: no error")
	}
}

// writeSplits lays a dataset out the FlashRAG way from rows of the shared QED data.
func writeSplits(t *testing.T, root string) {
	t.Helper()
	for split, src := range map[string]string{"test": "data/qed/test.jsonl", "dev": "data/qed/train.jsonl"} {
		b, err := os.ReadFile(testenv.SharedFile(t, src))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "qed")
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, split+".jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The rows of a run and the seed teacher's answers are those FlashRAG and the experiment
// draw with Python's generator, in the same order: checked against a Python reference for
// first-N and random samples over two splits.
func TestMaterializeMatchesPython(t *testing.T) {
	root := t.TempDir()
	writeSplits(t, filepath.Join(root, "data"))
	for _, tc := range []struct {
		sample *int
		random bool
		seed   int64
	}{{nil, false, 2024}, {ptr(100), false, 2024}, {ptr(100), true, 2024}, {ptr(20), true, 7}} {
		s := &Settings{DataDir: filepath.Join(root, "data"), DatasetName: "qed", Splits: []string{"test", "dev", "missing"},
			SampleNum: tc.sample, RandomSample: tc.random, Seed: tc.seed}
		splits, missing, err := s.FindSplits()
		if err != nil || len(missing) != 1 || missing[0] != "missing" {
			t.Fatalf("splits %v missing %v %v", splits, missing, err)
		}
		out := filepath.Join(root, "q.jsonl")
		st, err := Materialize(t.Context(), s, splits, out, true)
		if err != nil {
			t.Fatal(err)
		}
		var got [][3]any
		_, err = schemas.DecodeFile(t.Context(), out, 0, schemas.DecodeQuery, func(q schemas.Query) error {
			split := strings.TrimPrefix(q.Source, "qed/")
			var ans any
			if q.SeedAnswer != "" {
				ans = q.SeedAnswer
			}
			got = append(got, [3]any{split, q.ID, ans})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sn := "none"
		if tc.sample != nil {
			sn = fmt.Sprint(*tc.sample)
		}
		rnd := map[bool]string{true: "1", false: "0"}[tc.random]
		cmd := exec.CommandContext(t.Context(), python, "testdata/flashrag_dataset.py", s.DataDir, "qed", `["test","dev","missing"]`, sn, rnd, fmt.Sprint(tc.seed))
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("python reference: %v", err)
		}
		var want [][3]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || st.Rows != len(want) {
			t.Fatalf("sample %v random %v: %d rows (stats %d), python %d", tc.sample, tc.random, len(got), st.Rows, len(want))
		}
		for i := range want {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				t.Fatalf("sample %v random %v seed %d: row %d = %v, python %v", tc.sample, tc.random, tc.seed, i, got[i], want[i])
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestRunDirLayoutAndResume(t *testing.T) {
	s := &Settings{SaveDir: t.TempDir(), DatasetName: "nq", SaveNote: "experiment"}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	d, resumed, err := s.RunDir(now, "fp1")
	if err != nil || resumed || filepath.Base(d) != "nq_2026_03_04_05_06_experiment" {
		t.Fatalf("%s %v %v", d, resumed, err)
	}
	os.MkdirAll(d, 0o755)
	WriteState(d, RunState{Status: "running", Fingerprint: "fp1"})
	// a later start with the same inputs resumes the unfinished run
	if d2, resumed, _ := s.RunDir(now.Add(time.Hour), "fp1"); d2 != d || !resumed {
		t.Errorf("same inputs: %s resumed=%v, want %s", d2, resumed, d)
	}
	// other inputs start a new directory
	if d3, resumed, _ := s.RunDir(now.Add(time.Hour), "fp2"); d3 == d || resumed {
		t.Errorf("other inputs: %s resumed=%v", d3, resumed)
	}
	// a finished run is not resumed, and its name is not reused
	WriteState(d, RunState{Status: "complete", Fingerprint: "fp1"})
	if d4, resumed, _ := s.RunDir(now, "fp1"); d4 == d || resumed || filepath.Base(d4) != "nq_2026_03_04_05_06_experiment_2" {
		t.Errorf("after completion: %s resumed=%v", d4, resumed)
	}
}

func TestPyFloat(t *testing.T) {
	a, b := 0.1, 0.2 // at run time, not as an exact constant
	for f, want := range map[float64]string{1: "1.0", 0: "0.0", 0.5: "0.5", a + b: "0.30000000000000004", 1.0 / 3: "0.3333333333333333", 1e-05: "1e-05"} {
		if got := PyFloat(f); got != want {
			t.Errorf("PyFloat(%v) = %q, want %q", f, got, want)
		}
	}
}
