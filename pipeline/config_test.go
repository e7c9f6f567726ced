package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigFlashRAGKeysAndDefaults(t *testing.T) {
	p := writeConfig(t, `
dataset_path: data/q.jsonl
corpus_path: /abs/corpus.jsonl
retrieval_topk: 7
save_dir: out
`)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths()
	dir := filepath.Dir(p)
	if c.DatasetPath != filepath.Join(dir, "data/q.jsonl") || c.CorpusPath != "/abs/corpus.jsonl" {
		t.Fatalf("paths not resolved against the config file: %q %q", c.DatasetPath, c.CorpusPath)
	}
	if c.IndexPath != filepath.Join(dir, "out", "index") || c.SaveDir != filepath.Join(dir, "out") {
		t.Fatalf("index/save dir: %q %q", c.IndexPath, c.SaveDir)
	}
	if c.RetrievalTopK != 7 || c.RetrievalMethod != "bm25" || c.Teacher.Method != "answer-match" || c.Transport != "embedded" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"dataset_path: q\nsave_dir: o\ncorpus_path: c\nretreival_topk: 3\n", "retreival_topk"}, // typo: unknown key
		{"save_dir: o\ncorpus_path: c\n", "dataset_path is required"},
		{"dataset_path: q\ncorpus_path: c\n", "save_dir is required"},
		{"dataset_path: q\nsave_dir: o\n", "index_path or corpus_path"},
		{"dataset_path: q\nsave_dir: o\ncorpus_path: c\ntransport: kafka\n", "needs brokers"},
		{"dataset_path: q\nsave_dir: o\ncorpus_path: c\nsinks: [csv]\n", "unknown sink"},
		{"dataset_path: q\nsave_dir: o\ncorpus_path: c\nstages: {retreive: {concurrency: 2}}\n", "unknown stage"},
		{"dataset_path: q\nsave_dir: o\ncorpus_path: c\nretrieval_topk: -1\n", "positive"},
	} {
		_, err := LoadConfig(writeConfig(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want it to mention %q", tc.body, err, tc.want)
		}
	}
}

func TestOutputDirAliasAndBrokersImplyKafka(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, "dataset_path: q\noutput_dir: o\nindex_path: i\nbrokers: [127.0.0.1:9092]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SaveDir != "o" || c.Transport != "kafka" {
		t.Fatalf("save_dir %q transport %q", c.SaveDir, c.Transport)
	}
}

func TestBuildStageNeedsItsDependencies(t *testing.T) {
	for _, name := range StageNames() {
		if _, err := BuildStage(name, StageDeps{Topics: DefaultTopics("x")}); err == nil {
			t.Errorf("stage %s built without its dependencies", name)
		}
	}
	if _, err := BuildStage("nope", StageDeps{}); err == nil || !strings.Contains(err.Error(), "stages:") {
		t.Fatalf("unknown stage: %v", err)
	}
}
