package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

// fixture returns n varied records. Row i's expected column values are spelled out again in
// expectedRow, independently of the encoder.
func fixture(n int) []schemas.Scored {
	var out []schemas.Scored
	for i := range n {
		t := schemas.TeacherIdentity{Method: "lsr", Model: "tiny-llama", Temperature: 0.1, ScoreTransform: "logprob", Combine: "max", PromptHash: "ph", Precision: "f32"}
		s := schemas.Scored{
			SchemaVersion:   1,
			ID:              fmt.Sprintf("q%03d", i),
			Query:           fmt.Sprintf("question %d: ¿qué? 日本", i),
			Pos:             []string{"Alpha\nfirst", fmt.Sprintf("Beta\nsecond %d", i)},
			Scores:          []float64{0.75, 0.25},
			GoldenAnswers:   []string{"alpha"},
			PassageIDs:      []string{"d1", fmt.Sprintf("d%d", 100+i)},
			RetrieverScores: []float64{13.5, float64(i) / 8},
			TeacherScores:   []float64{-0.5, -1.625},
			AnswerMatch:     []bool{true, false},
			NumRelevant:     1,
			Teacher:         t,
			TeacherKey:      "tk0001",
			Retriever:       schemas.RetrieverInfo{Method: "bm25", Version: "r1"},
			Source:          "nq-open",
			Truncated:       i % 2,
		}
		if i%3 == 2 {
			s.GoldenAnswers, s.AnswerMatch = nil, nil
		}
		out = append(out, s)
	}
	return out
}

// expectedRow is what any reader must see for fixture row i (nil lists read as null).
func expectedRow(i int) map[string]any {
	var golden, match any = []any{"alpha"}, []any{true, false}
	if i%3 == 2 {
		golden, match = nil, nil
	}
	return map[string]any{
		"schema_version": 1.0, "id": fmt.Sprintf("q%03d", i), "query": fmt.Sprintf("question %d: ¿qué? 日本", i),
		"pos": []any{"Alpha\nfirst", fmt.Sprintf("Beta\nsecond %d", i)}, "scores": []any{0.75, 0.25},
		"golden_answers": golden, "passage_ids": []any{"d1", fmt.Sprintf("d%d", 100+i)},
		"retriever_scores": []any{13.5, float64(i) / 8}, "teacher_scores": []any{-0.5, -1.625},
		"answer_match": match, "num_relevant": 1.0,
		"teacher_method": "lsr", "teacher_model": "tiny-llama", "teacher_temperature": 0.1,
		"teacher_score_transform": "logprob", "teacher_combine": "max", "teacher_prompt_hash": "ph",
		"teacher_precision": "f32", "teacher_key": "tk0001", "retriever_method": "bm25",
		"retriever_version": "r1", "source": "nq-open", "truncated": float64(i % 2),
	}
}

var wantColumns = []string{"schema_version", "id", "query", "pos", "scores", "golden_answers", "passage_ids",
	"retriever_scores", "teacher_scores", "answer_match", "num_relevant", "teacher_method", "teacher_model",
	"teacher_temperature", "teacher_score_transform", "teacher_combine", "teacher_prompt_hash",
	"teacher_precision", "teacher_key", "retriever_method", "retriever_version", "source", "truncated"}

type jsFile struct {
	Metadata  map[string]string `json:"metadata"`
	Columns   []string          `json:"columns"`
	Codecs    []string          `json:"codecs"`
	RowGroups int               `json:"rowGroups"`
	Rows      []map[string]any  `json:"rows"`
}

// TestIndependentReaders writes files with the sinks (several flushes, then compaction) and
// reads them with readers nobody here wrote: hyparquet for Parquet, Arrow for JavaScript for IPC.
func TestIndependentReaders(t *testing.T) {
	nm := testenv.CachePath(t, "npmtest", "npm-test", "node_modules")
	for _, pkg := range []string{"hyparquet", "hyparquet-compressors", "apache-arrow"} {
		if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
			t.Fatalf("npm package %s is missing from %s: run `scripts/setup.sh npmtest`", pkg, nm)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: it is needed for the independent readers (Node 20)")
	}
	ctx := t.Context()
	dir := t.TempDir()
	recs := fixture(40)
	for _, open := range []func() (*arrowipc.PartSink, error){
		func() (*arrowipc.PartSink, error) { return parquet.Open(ctx, arrowipc.Config{Dir: dir, BatchRows: 16}) },
		func() (*arrowipc.PartSink, error) {
			return arrowipc.Open(ctx, arrowipc.Config{Dir: dir, BatchRows: 16})
		},
	} {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if _, err := s.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
			if i == 9 || i == 25 {
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	script := filepath.Join(dir, "read_columnar.mjs")
	src, err := os.ReadFile(filepath.Join("testdata", "read_columnar.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nm, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script, filepath.Join(dir, "scored.parquet"), filepath.Join(dir, "scored.arrow"))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node reader: %v\n%s", err, stderr)
	}
	var got struct {
		Parquet jsFile `json:"parquet"`
		Arrow   jsFile `json:"arrow"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v\n%.500s", err, out)
	}
	if got.Parquet.RowGroups < 3 {
		t.Errorf("parquet has %d row groups, want >= 3 (16-row groups over 40 rows)", got.Parquet.RowGroups)
	}
	if !reflect.DeepEqual(got.Parquet.Codecs, []string{"ZSTD"}) {
		t.Errorf("parquet codecs %v, want [ZSTD]", got.Parquet.Codecs)
	}
	for name, f := range map[string]jsFile{"parquet": got.Parquet, "arrow": got.Arrow} {
		if f.Metadata["lsrflow.schema_version"] != "1" {
			t.Errorf("%s: metadata %v lacks lsrflow.schema_version=1", name, f.Metadata)
		}
		if !reflect.DeepEqual(f.Columns, wantColumns) {
			t.Errorf("%s columns:\n got %v\nwant %v", name, f.Columns, wantColumns)
		}
		if len(f.Rows) != len(recs) {
			t.Fatalf("%s: %d rows, want %d", name, len(f.Rows), len(recs))
		}
		for i, row := range f.Rows {
			if want := expectedRow(i); !reflect.DeepEqual(row, want) {
				for k := range want {
					if !reflect.DeepEqual(row[k], want[k]) {
						t.Errorf("%s row %d column %s: got %#v, want %#v", name, i, k, row[k], want[k])
					}
				}
				t.FailNow()
			}
		}
	}
}
