package lmteacher_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

func emuCands(q emutest.Query) schemas.Candidates {
	c := schemas.Candidates{SchemaVersion: 1, Query: schemas.Query{SchemaVersion: 1, ID: q.ID, Question: q.Question, GoldenAnswers: q.Answers}}
	for i, p := range q.Passages {
		c.Docs = append(c.Docs, schemas.Passage{ID: p.ID, Contents: p.Contents, Score: float64(10 - i)})
	}
	return c
}

// TestTeacherScoresThroughEmulators: LSR's teacher_scores through every emulated server, with
// the real Llama-3 tokenizer (BOS; clean-up on and off; the model's tokenizer.json or the
// server's /tokenize), on QED passages with NQ and QED questions, equal max over the gold
// answers of the independently recomputed log-likelihoods within 1e-6, and no query fails.
func TestTeacherScoresThroughEmulators(t *testing.T) {
	raw, _ := emutest.Load(t)
	queries := emutest.Queries(t, 3, 3)
	local, err := lm.NewLocalTokenizer(raw, "tokenizer.json@llama3_1")
	if err != nil {
		t.Fatal(err)
	}
	expect := map[string][]float64{} // chat template -> per query*passage
	for _, chat := range []string{prompt.ChatPlain, prompt.ChatLlama3} {
		tmpl := prompt.Default(chat)
		for _, q := range queries {
			c := emuCands(q)
			for _, d := range c.Docs {
				best := math.Inf(-1)
				for _, a := range q.Answers {
					a = strings.TrimSpace(a)
					if a == "" {
						continue
					}
					s, _ := emutest.Expected(raw, "<|begin_of_text|>", tmpl.QA(q.Question, []schemas.Passage{d}), tmpl.TargetPrefix()+a)
					best = math.Max(best, s)
				}
				expect[chat] = append(expect[chat], best)
			}
		}
	}
	configs := []struct{ backend, server string }{
		{"vllm", lmemu.VLLM}, {"vllm", lmemu.VLLM06}, {"vllm-prompt-logprobs", lmemu.VLLM}, {"tgi", lmemu.TGI2}, {"tgi", lmemu.TGI3}, {"sglang", lmemu.SGLang},
	}
	for _, cf := range configs {
		for _, cleanUp := range []bool{true, false} {
			chat := prompt.ChatPlain
			var tok lm.Tokenizer = local
			if !cleanUp {
				chat, tok = prompt.ChatLlama3, nil // and the server's /tokenize
			}
			t.Run(fmt.Sprintf("%s-on-%s/cleanup=%v/%s", cf.backend, cf.server, cleanUp, chat), func(t *testing.T) {
				ts, _ := emutest.Start(t, lmemu.Options{Kind: cf.server, Tokenizer: lmemu.NewTokenizer(raw, -1, cleanUp), Model: "m", PrefillLogprobs: true})
				tch, err := lmteacher.Open(t.Context(), lmteacher.Config{LM: ts.URL + "/v1", Backend: cf.backend, Model: "m", LocalTokenizer: tok, Chat: chat, NoCache: true, Timeout: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer tch.Close()
				if id := tch.Identity(); id.Tokenizer == "" || (tok == nil) != (id.Tokenizer == "server:/tokenize") {
					t.Errorf("identity names tokenizer %q", id.Tokenizer)
				}
				k := 0
				for _, q := range queries {
					s, err := tch.Teach(t.Context(), emuCands(q))
					if err != nil {
						t.Fatalf("query %s: %v (would be dead-lettered)", q.ID, err)
					}
					for i, got := range s.TeacherScores {
						if want := expect[chat][k]; math.Abs(got-want) > 1e-6 {
							t.Errorf("query %s passage %d: teacher score %.9f, recomputed %.9f", q.ID, i, got, want)
						}
						k++
					}
				}
			})
		}
	}
}

// TestTGI3WithoutFlagDeadLettersAtOnce: the teacher gets a permanent error naming the flag on
// the first request; the stage runner dead-letters without retrying.
func TestTGI3WithoutFlagDeadLettersAtOnce(t *testing.T) {
	raw, _ := emutest.Load(t)
	ts, srv := emutest.Start(t, lmemu.Options{Kind: lmemu.TGI3, Tokenizer: lmemu.NewTokenizer(raw, -1, true)})
	tch, err := lmteacher.Open(t.Context(), lmteacher.Config{LM: ts.URL, Backend: "tgi", NoCache: true, Retries: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	q := emutest.Queries(t, 1, 3)[0]
	_, err = tch.Teach(t.Context(), emuCands(q))
	if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "--enable-prefill-logprobs") {
		t.Fatalf("want a permanent error naming --enable-prefill-logprobs, got %v", err)
	}
	if n := srv.Calls(); n > int64(len(q.Passages)*len(q.Answers)) {
		t.Errorf("%d /generate calls for %d pairs: retried", n, len(q.Passages)*len(q.Answers))
	}
}
