package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/internal/runcheck"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/schemas"
)

// editPaths sets path-valued keys of a YAML config text in place, keeping every other byte:
// "key" for a top-level key, "parent.key" for the first key of that name under parent.
func editPaths(t *testing.T, body string, paths map[string]string) string {
	t.Helper()
	lines := strings.Split(body, "\n")
	for key, val := range paths {
		parent, child, nested := strings.Cut(key, ".")
		if !nested {
			child = parent
		}
		in := !nested
		done := false
		for i, l := range lines {
			if nested && strings.HasPrefix(l, parent+":") {
				in = true
				continue
			}
			if nested && in && l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "#") {
				in = false
			}
			indent := ""
			if nested {
				indent = `\s+`
			}
			re := regexp.MustCompile(`^(` + indent + regexp.QuoteMeta(child) + `:\s*)("[^"]*"|'[^']*'|[^\s#]+)(.*)$`)
			if in && re.MatchString(l) {
				lines[i] = re.ReplaceAllString(l, "${1}"+strings.ReplaceAll(fmt.Sprintf("%q", val), "$", "$$")+"${3}")
				done = true
				break
			}
		}
		if !done {
			t.Fatalf("config has no %s", key)
		}
	}
	return strings.Join(lines, "\n")
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Both real FlashRAG config files, with only their paths changed, run end to end over data
// laid out the FlashRAG way ({data_dir}/nq/test.jsonl, a corpus, e5_Flat.index written by
// faiss-python from an independent numpy embedding with FlashRAG's e5 conventions), and give
// the candidates FlashRAG's own search gives, the same candidates as the equivalent
// lsrflow-native index + retrieve, and the same recall@5 as `lsrflow eval` and FlashRAG's
// Retrieval_Recall rule.
func TestFlashRAGConfigsEndToEnd(t *testing.T) {
	root := t.TempDir()
	model := filepath.Join(testenv.SharedDir(t), "models", "model2vec-bge-base-q128")
	testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors")
	corpus := filepath.Join(root, "corpus.jsonl")
	copyTo(t, testenv.SharedFile(t, "data/qed/corpus.jsonl"), corpus)
	queries := filepath.Join(root, "data", "nq", "test.jsonl")
	copyTo(t, testenv.SharedFile(t, "data/qed/test.jsonl"), queries)
	faissFile := filepath.Join(root, "index", "e5_Flat.index")
	os.MkdirAll(filepath.Dir(faissFile), 0o755)

	ref := filepath.Join(testenv.RepoRoot(t), "embed", "model2vec", "testdata", "reference.py")
	out, err := exec.CommandContext(t.Context(), "/usr/bin/python3", "testdata/flashrag_faiss.py", ref, model, corpus, queries, faissFile, "5").Output()
	if err != nil {
		t.Fatalf("faiss-python reference (scripts/setup.sh faisspy): %v", err)
	}
	var py struct {
		IDs    [][]string `json:"ids"`
		Recall float64    `json:"recall"`
	}
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}

	// the lsrflow-native equivalent: index with FlashRAG's e5 conventions (passages cut at 512
	// tokens, as the reference and FlashRAG's README index command), dense top-5, eval
	ix := filepath.Join(root, "native-index")
	if code, so, se := cli(t, "index", "--corpus", corpus, "--embedder", "model2vec:"+model, "--model", "e5", "--max-length", "512", "--out", ix); code != 0 {
		t.Fatalf("index: %d %s %s", code, so, se)
	} else if !strings.Contains(so, `encoding: flashrag:e5, query prefix "query: ", passage prefix "passage: "`) {
		t.Errorf("index output does not show the encoding: %s", so)
	}
	native := filepath.Join(root, "native.jsonl")
	if code, so, se := cli(t, "retrieve", "--index", ix, "--queries", queries, "--method", "dense", "--topk", "5", "--out", native); code != 0 {
		t.Fatalf("retrieve: %d %s %s", code, so, se)
	} else if !strings.Contains(so, "encoding (from the index manifest): flashrag:e5") {
		t.Errorf("retrieve output does not show the encoding: %s", so)
	}
	nativeIDs := map[string][]string{}
	_, err = schemas.DecodeFile(t.Context(), native, 0, func(b []byte) (retrieval.RetrievedRecord, error) {
		var r retrieval.RetrievedRecord
		return r, json.Unmarshal(b, &r)
	}, func(r retrieval.RetrievedRecord) error {
		for _, d := range r.Docs {
			nativeIDs[r.ID] = append(nativeIDs[r.ID], d.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, so, se := cli(t, "eval", "--retrieval", native, "--k", "5")
	if code != 0 {
		t.Fatalf("eval: %d %s %s", code, so, se)
	}
	var agg map[string]float64
	lines := strings.Split(strings.TrimSpace(so), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &agg)
	var qids []string
	schemas.DecodeFile(t.Context(), queries, 0, schemas.DecodeQuery, func(q schemas.Query) error { qids = append(qids, q.ID); return nil })

	for _, name := range []string{"flashrag_basic_config.yaml", "rag-retrieval_flashrag_config.yaml"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "pipeline", "flashrag", "testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, strings.TrimSuffix(name, ".yaml"))
			edited := editPaths(t, string(body), map[string]string{
				"data_dir": filepath.Join(root, "data"), "save_dir": filepath.Join(dir, "output"),
				"corpus_path": corpus, "index_path": faissFile, "model2path.e5": model,
			})
			// nothing but the path lines changed
			a, b := strings.Split(string(body), "\n"), strings.Split(edited, "\n")
			changed := 0
			for i := range a {
				if a[i] != b[i] {
					changed++
				}
			}
			if len(a) != len(b) || changed != 5 {
				t.Fatalf("editing changed %d lines", changed)
			}
			cfg := filepath.Join(dir, "config.yaml")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(cfg, []byte(edited), 0o644)
			code, so, se := cli(t, "run", "--config", cfg)
			if code != 0 {
				t.Fatalf("run: %d\n%s\n%s", code, so, se)
			}
			if strings.Count(se, "FlashRAG keys lsrflow does not use:") != 1 || !strings.Contains(se, "faiss_gpu") {
				t.Errorf("want one warning listing unused keys; stderr:\n%s", se)
			}
			runs, _ := filepath.Glob(filepath.Join(dir, "output", "nq_*_experiment"))
			if len(runs) != 1 {
				t.Fatalf("run directories %v, want one {save_dir}/nq_{timestamp}_experiment", runs)
			}
			scored := runcheck.ScoredByID(t, filepath.Join(runs[0], "scored.jsonl"))
			if len(scored) != len(qids) {
				t.Fatalf("%d scored records for %d questions", len(scored), len(qids))
			}
			for i, id := range qids {
				got := strings.Join(scored[id].PassageIDs, ",")
				if want := strings.Join(py.IDs[i], ","); got != want {
					t.Errorf("question %s: candidates %s, FlashRAG's (faiss-python) %s", id, got, want)
				}
				if want := strings.Join(nativeIDs[id], ","); got != want {
					t.Errorf("question %s: candidates %s, lsrflow-native %s", id, got, want)
				}
			}
			ms, err := os.ReadFile(filepath.Join(runs[0], "metric_score.txt"))
			if err != nil {
				t.Fatal(err)
			}
			var recall, prec float64
			if _, err := fmt.Sscanf(string(ms), "retrieval_recall_top5: %g\nretrieval_precision_top5: %g\n", &recall, &prec); err != nil {
				t.Fatalf("metric_score.txt %q: %v", ms, err)
			}
			// eval prints 10 significant digits
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if recall != py.Recall || !near(recall, agg["recall@5"]) || !near(recall, agg["retrieval_recall_top5"]) {
				t.Errorf("recall@5: metric_score.txt %v, FlashRAG rule %v, lsrflow eval %v / %v", recall, py.Recall, agg["recall@5"], agg["retrieval_recall_top5"])
			}
			t.Logf("%s: %d questions, candidates identical to faiss-python's and lsrflow-native's; retrieval_recall_top5 %v", name, len(qids), recall)
		})
	}
}

// retrieval_method bm25 with bm25_backend bm25s (basic_config's default) runs lsrflow's BM25
// with the bm25s analyzer and bm25s' k1/b, and analyzes queries as FlashRAG's bm25s retriever
// does (not stemmed): the same candidates as `lsrflow index --bm25-analyzer bm25s
// --bm25-query-analyzer bm25s-unstemmed` + `retrieve --method bm25`. With lsrflow's key
// bm25_query_analyzer: bm25s the queries are stemmed, and the candidates are those of
// lsrflow-native `--bm25-analyzer bm25s`; the two differ.
func TestFlashRAGConfigBM25Backend(t *testing.T) {
	root := t.TempDir()
	corpus := filepath.Join(root, "corpus.jsonl")
	copyTo(t, testenv.SharedFile(t, "data/qed/corpus.jsonl"), corpus)
	queries := filepath.Join(root, "data", "nq", "test.jsonl")
	copyTo(t, testenv.SharedFile(t, "data/qed/test.jsonl"), queries)
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "pipeline", "flashrag", "testdata", "flashrag_basic_config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := editPaths(t, string(body), map[string]string{"data_dir": filepath.Join(root, "data"), "save_dir": filepath.Join(root, "out"), "corpus_path": corpus})
	edited = strings.Replace(edited, `retrieval_method: "e5"`, `retrieval_method: "bm25"`, 1)
	// flashRAGRun runs the config (with extra appended) and returns its candidates by question.
	flashRAGRun := func(name, extra, wantNote string) map[string]string {
		cfg := filepath.Join(root, name+".yaml")
		os.WriteFile(cfg, []byte(strings.Replace(edited, `save_note: "experiment"`, `save_note: "`+name+`"`, 1)+extra), 0o644)
		code, so, se := cli(t, "run", "--config", cfg)
		if code != 0 {
			t.Fatalf("run: %d\n%s\n%s", code, so, se)
		}
		if !strings.Contains(se, wantNote) {
			t.Errorf("%s: the run output does not say %q:\n%s", name, wantNote, se)
		}
		runs, _ := filepath.Glob(filepath.Join(root, "out", "nq_*_"+name))
		if len(runs) != 1 {
			t.Fatalf("runs %v", runs)
		}
		out := map[string]string{}
		for id, r := range runcheck.ScoredByID(t, filepath.Join(runs[0], "scored.jsonl")) {
			out[id] = strings.Join(r.PassageIDs, ",")
		}
		if len(out) != 385 {
			t.Fatalf("%s: %d scored", name, len(out))
		}
		return out
	}
	// native indexes the corpus with flags and retrieves the top 5 of every question.
	native := func(name string, flags ...string) map[string]string {
		ix := filepath.Join(root, name)
		if code, so, se := cli(t, append([]string{"index", "--corpus", corpus, "--out", ix}, flags...)...); code != 0 {
			t.Fatalf("index: %d %s %s", code, so, se)
		}
		res := filepath.Join(root, name+".jsonl")
		code, so, se := cli(t, "retrieve", "--index", ix, "--queries", queries, "--method", "bm25", "--topk", "5", "--out", res)
		if code != 0 {
			t.Fatalf("retrieve: %d %s %s", code, so, se)
		}
		if !strings.Contains(so, "bm25 (from the index manifest): passages bm25s, queries ") {
			t.Errorf("retrieve does not name the BM25 analyzers:\n%s", so)
		}
		out := map[string]string{}
		_, err := schemas.DecodeFile(t.Context(), res, 0, func(b []byte) (retrieval.RetrievedRecord, error) {
			var r retrieval.RetrievedRecord
			return r, json.Unmarshal(b, &r)
		}, func(r retrieval.RetrievedRecord) error {
			var ids []string
			for _, d := range r.Docs {
				ids = append(ids, d.ID)
			}
			out[r.ID] = strings.Join(ids, ",")
			return nil
		})
		if err != nil || len(out) != 385 {
			t.Fatalf("%d native lines: %v", len(out), err)
		}
		return out
	}
	differing := func(a, b map[string]string) int {
		differ := 0
		for id, c := range a {
			if c != b[id] {
				differ++
			}
		}
		return differ
	}
	flashDefault := flashRAGRun("default", "", "queries bm25s-unstemmed (FlashRAG's bm25s query path")
	flashStemmed := flashRAGRun("stemmed", "\nbm25_query_analyzer: bm25s\n", "queries bm25s\n")
	nativeUnstemmed := native("native-unstemmed", "--bm25-analyzer", "bm25s", "--bm25-query-analyzer", "bm25s-unstemmed")
	nativeStemmed := native("native-stemmed", "--bm25-analyzer", "bm25s")
	if n := differing(flashDefault, nativeUnstemmed); n != 0 {
		t.Errorf("FlashRAG config (default) and lsrflow-native bm25s-unstemmed differ on %d questions", n)
	}
	if n := differing(flashStemmed, nativeStemmed); n != 0 {
		t.Errorf("FlashRAG config with bm25_query_analyzer: bm25s and lsrflow-native bm25s differ on %d questions", n)
	}
	n := differing(flashDefault, flashStemmed)
	t.Logf("385 QED test questions: FlashRAG's unstemmed queries and stemmed queries give other top 5 on %d", n)
	if n == 0 {
		t.Error("unstemmed and stemmed queries gave the same candidates everywhere")
	}
	// A query analyzer that cannot search the index is a usage error.
	if code, _, se := cli(t, "index", "--corpus", corpus, "--out", filepath.Join(root, "bad"), "--bm25-query-analyzer", "bm25s-unstemmed"); code != 2 || !strings.Contains(se, "cannot search a plain index") {
		t.Errorf("--bm25-query-analyzer on a plain index: exit %d, %s", code, se)
	}
}

func TestIndexModelFlagNeedsAModelEmbedder(t *testing.T) {
	corpus := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(corpus, []byte(`{"id":"1","contents":"a\nb"}`+"\n"), 0o644)
	code, _, se := cli(t, "index", "--corpus", corpus, "--embedder", "glove", "--model", "e5", "--out", filepath.Join(t.TempDir(), "ix"))
	if code != 2 || !strings.Contains(se, "not glove") {
		t.Errorf("--model with glove: exit %d, %s", code, se)
	}
	code, _, se = cli(t, "index", "--corpus", corpus, "--embedder", "model2vec:x", "--model", "e5", "--pooling", "max", "--out", filepath.Join(t.TempDir(), "ix"))
	if code != 2 || !strings.Contains(se, "pooling") {
		t.Errorf("--pooling max: exit %d, %s", code, se)
	}
}
