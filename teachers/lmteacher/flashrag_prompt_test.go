package lmteacher_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
)

type promptCase struct {
	Question string `json:"question"`
	Contents string `json:"contents"`
	Answer   string `json:"answer"`
}

// seedCases pairs questions with passages: every demo question (train and test) with its
// gold passage and the next corpus passage, every QED test question with its gold passage,
// and passages and questions that exercise FlashRAG's formatting edges (no title line, blank
// lines, surrounding whitespace that the chat template strips, braces).
func seedCases(t *testing.T) []promptCase {
	t.Helper()
	root := testenv.RepoRoot(t)
	corpus := map[string]string{}
	var order []string
	read := func(path string) {
		_, err := schemas.DecodeFile(t.Context(), path, 0, schemas.DecodeCorpusDoc, func(d schemas.CorpusDoc) error {
			corpus[d.ID] = d.Contents
			order = append(order, d.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read(filepath.Join(root, "deploy/demo/corpus.jsonl"))
	var cases []promptCase
	addQueries := func(path string, next bool) {
		_, err := schemas.DecodeFile(t.Context(), path, 0, schemas.DecodeQuery, func(q schemas.Query) error {
			for i, id := range q.GoldDocIDs {
				if c, ok := corpus[id]; ok {
					cases = append(cases, promptCase{q.Question, c, q.GoldenAnswers[i%len(q.GoldenAnswers)]})
				}
			}
			if next && len(q.GoldenAnswers) > 0 {
				cases = append(cases, promptCase{q.Question, corpus[order[len(cases)%len(order)]], q.GoldenAnswers[0]})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	addQueries(filepath.Join(root, "deploy/demo/train.jsonl"), true)
	addQueries(filepath.Join(root, "deploy/demo/test.jsonl"), true)
	n := len(cases)
	order = nil
	read(testenv.SharedFile(t, "data/qed/corpus.jsonl"))
	addQueries(testenv.SharedFile(t, "data/qed/test.jsonl"), false)
	if n < 130 || len(cases) < n+380 {
		t.Fatalf("%d demo and %d QED cases", n, len(cases)-n)
	}
	cases = append(cases,
		promptCase{"who wrote {question}?", "no title line at all", "nobody"},
		promptCase{"q with {reference} in it", "Title\n\nafter a blank line\nand more", " spaced answer "},
		promptCase{"  padded question\t", "  Padded title  \ntext ending in spaces and an ideographic space\u3000", "x"},
		promptCase{"empty text", "Only a title\n", "y"},
		promptCase{"unicode", "Zürich\n\u00a0Zürich is a city.\u2028", "Zürich"},
		// Python's str.strip also strips the information separators \x1c-\x1f
		promptCase{"separators", "T\ntext\u001f\u001c", "z"},
	)
	return cases
}

// recorder answers every request with one token and keeps the requests.
type recorder struct{ asked []lm.Request }

func (r *recorder) Score(_ context.Context, reqs []lm.Request) ([]lm.Result, error) {
	r.asked = append(r.asked, reqs...)
	out := make([]lm.Result, len(reqs))
	for i := range out {
		out[i] = lm.Result{TokenLogprobs: []float64{-1}, Tokens: 1}
	}
	return out, nil
}
func (r *recorder) Info() lm.Info { return lm.Info{Backend: "rec", Model: "rec"} }
func (r *recorder) Close() error  { return nil }

// The seed teacher's prompts are byte-identical to the independent Python rendering of
// FlashRAG's PromptTemplate (jinja2 on Llama-3 Instruct's real chat template for the chat
// model; the blank-line join for a base model), and its target is the answer exactly,
// appended with nothing in between as cal_gen_probs does.
func TestSeedPromptsMatchFlashRAG(t *testing.T) {
	cases := seedCases(t)
	tokConfig := testenv.CachePath(t, "tokenizers", "tokenizers", "models", "llama3", "tokenizer_config.json")
	in := filepath.Join(t.TempDir(), "cases.json")
	b, _ := json.Marshal(cases)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ chat, model string }{
		{"llama3", "meta-llama/Meta-Llama-3-8B-Instruct"},
		{"plain", "meta-llama/Meta-Llama-3-8B"},
	} {
		out, err := exec.CommandContext(t.Context(), "/usr/bin/python3", "testdata/flashrag_prompt.py", tokConfig, tc.model, in).Output()
		if err != nil {
			t.Fatalf("python reference (needs python3-jinja2: scripts/setup.sh apt): %v", err)
		}
		var want []struct{ Prompt, Target string }
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		tch, err := lmteacher.Open(t.Context(), lmteacher.Config{Method: "seed", Chat: tc.chat, Scorer: rec, NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			cand := schemas.Candidates{SchemaVersion: 1,
				Query: schemas.Query{SchemaVersion: 1, ID: "c", Question: c.Question, GoldenAnswers: []string{"other"}, SeedAnswer: c.Answer},
				Docs:  []schemas.Passage{{ID: "p", Contents: c.Contents}}}
			if _, err := tch.Teach(t.Context(), cand); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
		}
		tch.Close()
		if len(rec.asked) != len(want) {
			t.Fatalf("%s: %d requests, python %d", tc.chat, len(rec.asked), len(want))
		}
		for i, r := range rec.asked {
			if r.Prompt != want[i].Prompt || r.Target != want[i].Target {
				t.Fatalf("%s case %d:\n got  %q + %q\n want %q + %q", tc.chat, i, r.Prompt, r.Target, want[i].Prompt, want[i].Target)
			}
		}
		t.Logf("%s: %d prompts byte-identical to the Python rendering", tc.chat, len(want))
	}
}
