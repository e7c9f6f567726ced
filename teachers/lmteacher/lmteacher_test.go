package lmteacher_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
)

// fakeLM gives each target a deterministic number of tokens with log-probabilities from a
// hash of (prompt, target, position), and records what it was asked.
type fakeLM struct {
	mu       sync.Mutex
	asked    []lm.Request
	maxBytes int // prompts longer than this overflow
}

func tokenLPs(r lm.Request) []float64 {
	n := 1 + len(strings.Fields(r.Target))
	out := make([]float64, n)
	for j := range out {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%d", r.Prompt, r.Target, j)
		out[j] = -float64(h.Sum64()%4000)/1000 - 0.05
	}
	return out
}

func (f *fakeLM) Score(ctx context.Context, reqs []lm.Request) ([]lm.Result, error) {
	f.mu.Lock()
	f.asked = append(f.asked, reqs...)
	f.mu.Unlock()
	out := make([]lm.Result, len(reqs))
	for i, r := range reqs {
		if f.maxBytes > 0 && len(r.Prompt) > f.maxBytes {
			return nil, &lm.OverflowError{Index: i, Tokens: len(r.Prompt) / 4, Limit: f.maxBytes / 4}
		}
		out[i] = lm.Result{TokenLogprobs: tokenLPs(r), Tokens: 100}
	}
	return out, nil
}
func (f *fakeLM) Info() lm.Info { return lm.Info{Backend: "fake", Model: "fake-7b", Precision: "f64"} }
func (f *fakeLM) Close() error  { return nil }
func (f *fakeLM) Generate(ctx context.Context, p string, n int, stop []string) (string, error) {
	return " Paris\n", nil
}

func cands(id string, answers []string, docIDs ...string) schemas.Candidates {
	c := schemas.Candidates{SchemaVersion: 1, Query: schemas.Query{SchemaVersion: 1, ID: id, Question: "what is the capital of france", GoldenAnswers: answers}}
	for i, d := range docIDs {
		c.Docs = append(c.Docs, schemas.Passage{ID: d, Contents: "Title " + d + "\nPassage " + d + " talks about Paris and France.", Score: float64(10 - i)})
	}
	return c
}

// refSoftmax is an independent float64 softmax.
func refSoftmax(x []float64, beta float64) []float64 {
	out := make([]float64, len(x))
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v/beta)
	}
	z := 0.0
	for i, v := range x {
		out[i] = math.Exp(v/beta - m)
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

func TestDistributionsEqualFloat64Recomputation(t *testing.T) {
	answers := []string{"Paris", "the city of Paris", "Paname"}
	c := cands("q1", answers, "d1", "d2", "d3", "d4")
	cases := []struct {
		name string
		cfg  lmteacher.Config
		// per passage: per-answer token log-probs -> value inside the softmax, raw log-lik
		inSoftmax func(per [][]float64) (float64, float64)
		beta      float64
	}{
		{"lsr-default", lmteacher.Config{}, func(p [][]float64) (float64, float64) { s := maxSum(p, false); return s, s }, 1},
		{"lsr-beta0.5-logsumexp", lmteacher.Config{Beta: 0.5, Combine: "logsumexp"}, func(p [][]float64) (float64, float64) {
			z := 0.0
			for _, a := range p {
				z += math.Exp(sum(a))
			}
			return math.Log(z), math.Log(z)
		}, 0.5},
		{"lsr-prob-replug", lmteacher.Config{ScoreTransform: "prob"}, func(p [][]float64) (float64, float64) { s := maxSum(p, false); return math.Exp(s), s }, 0.1},
		{"lsr-length-normalized", lmteacher.Config{LengthNormalize: true}, func(p [][]float64) (float64, float64) { s := maxSum(p, true); return s, s }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLM{}
			cfg := tc.cfg
			cfg.Scorer = f
			cfg.NoCache = true
			tch, err := lmteacher.Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer tch.Close()
			s, err := tch.Teach(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(f.asked) != len(c.Docs)*len(answers) {
				t.Fatalf("asked %d pairs, want %d in one call", len(f.asked), len(c.Docs)*len(answers))
			}
			var in, raw []float64
			for i := range c.Docs {
				per := make([][]float64, len(answers))
				for j := range answers {
					per[j] = tokenLPs(f.asked[i*len(answers)+j])
				}
				a, b := tc.inSoftmax(per)
				in, raw = append(in, a), append(raw, b)
			}
			want := refSoftmax(in, tc.beta)
			for i := range want {
				if math.Abs(s.Scores[i]-want[i]) > 1e-12 || math.Abs(s.TeacherScores[i]-raw[i]) > 1e-12 {
					t.Errorf("passage %d: dist %v raw %v, want %v %v", i, s.Scores[i], s.TeacherScores[i], want[i], raw[i])
				}
			}
			if s.Teacher.Temperature != tc.beta || s.TeacherKey != s.Teacher.Key() || s.Teacher.PromptHash == "" || s.Teacher.Precision != "f64" {
				t.Errorf("identity %+v", s.Teacher)
			}
		})
	}
}

func sum(a []float64) float64 {
	s := 0.0
	for _, v := range a {
		s += v
	}
	return s
}

func maxSum(p [][]float64, norm bool) float64 {
	best := math.Inf(-1)
	for _, a := range p {
		v := sum(a)
		if norm {
			v /= float64(len(a))
		}
		best = math.Max(best, v)
	}
	return best
}

func TestSeedUPRAndGenerate(t *testing.T) {
	c := cands("q2", []string{"Paris", "City of Light"}, "d1", "d2", "d3")
	for _, method := range []string{"seed", "upr", "gen-lsr"} {
		f := &fakeLM{}
		tch, err := lmteacher.Open(t.Context(), lmteacher.Config{Method: method, Scorer: f, NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := tch.Teach(t.Context(), c)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if len(f.asked) != len(c.Docs) {
			t.Fatalf("%s: asked %d pairs", method, len(f.asked))
		}
		var in []float64
		for _, r := range f.asked {
			lps := tokenLPs(r)
			switch method {
			case "seed":
				m := 0.0
				for _, l := range lps {
					m += math.Exp(l)
				}
				in = append(in, m/float64(len(lps)))
				// FlashRAG's plain prompt, the answer appended as it is (cal_gen_probs)
				if r.Target != "Paris" && r.Target != "City of Light" {
					t.Errorf("seed target %q", r.Target)
				}
				if !strings.HasSuffix(r.Prompt, "\n\nQuestion: "+c.Query.Question) || !strings.Contains(r.Prompt, "document.Only give me") {
					t.Errorf("seed prompt %q", r.Prompt)
				}
			case "upr":
				in = append(in, sum(lps))
				if r.Target != " "+c.Query.Question || !strings.Contains(r.Prompt, "Please write a question based on this passage.") {
					t.Errorf("upr request %+v", r)
				}
			case "gen-lsr":
				in = append(in, sum(lps))
				if r.Target != " Paris" {
					t.Errorf("gen-lsr target %q", r.Target)
				}
			}
		}
		want := refSoftmax(in, 1)
		for i := range want {
			if math.Abs(s.Scores[i]-want[i]) > 1e-12 {
				t.Errorf("%s passage %d: %v want %v", method, i, s.Scores[i], want[i])
			}
		}
		tch.Close()
	}
	// an answer drawn upstream (seed_answer) is the one scored, untrimmed
	c.Query.SeedAnswer = " City of Light"
	f := &fakeLM{}
	tch, err := lmteacher.Open(t.Context(), lmteacher.Config{Method: "seed", Scorer: f, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tch.Teach(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.asked {
		if r.Target != " City of Light" {
			t.Errorf("seed_answer: target %q", r.Target)
		}
	}
	tch.Close()
	// LSR without answers is a permanent error; UPR does not need answers.
	f = &fakeLM{}
	tch, _ = lmteacher.Open(t.Context(), lmteacher.Config{Scorer: f, NoCache: true})
	_, err = tch.Teach(t.Context(), cands("q3", nil, "d1"))
	if !streams.IsPermanent(err) || streams.ReasonOf(err) != "no-answers" {
		t.Errorf("no answers: %v", err)
	}
	bad := cands("q4", []string{"a\xff"}, "d1")
	if _, err := tch.Teach(t.Context(), bad); !streams.IsPermanent(err) {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestTruncatesOverflowingPassages(t *testing.T) {
	c := cands("q5", []string{"Paris"}, "d1", "d2")
	c.Docs[1].Contents = "Long\n" + strings.Repeat("very long passage text ", 200)
	f := &fakeLM{maxBytes: 1500}
	tch, _ := lmteacher.Open(t.Context(), lmteacher.Config{Scorer: f, NoCache: true})
	s, err := tch.Teach(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Truncated != 1 || tch.Stats().Truncated != 1 {
		t.Errorf("truncated %d, want 1", s.Truncated)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

// TestSecondPassSendsOnlyChangedPairs: after a restart and a retriever update that replaces
// two of five passages, only the new pairs go to the LM; the rest come from the durable cache.
func TestSecondPassSendsOnlyChangedPairs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scores.jsonl")
	answers := []string{"Paris", "Paname"}
	f := &fakeLM{}
	tch, err := lmteacher.Open(t.Context(), lmteacher.Config{Scorer: f, CachePath: path})
	if err != nil {
		t.Fatal(err)
	}
	first, err := tch.Teach(t.Context(), cands("q6", answers, "a", "b", "c", "d", "e"))
	if err != nil {
		t.Fatal(err)
	}
	tch.Close() // restart

	f2 := &fakeLM{}
	tch, err = lmteacher.Open(t.Context(), lmteacher.Config{Scorer: f2, CachePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	second, err := tch.Teach(t.Context(), cands("q6", answers, "a", "x", "c", "y", "e"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f2.asked) != 2*len(answers) {
		t.Fatalf("second pass sent %d pairs to the LM, want %d", len(f2.asked), 2*len(answers))
	}
	for _, r := range f2.asked {
		if !strings.Contains(r.Prompt, "Passage x") && !strings.Contains(r.Prompt, "Passage y") {
			t.Errorf("unchanged pair re-sent: %q", r.Prompt)
		}
	}
	for _, i := range []int{0, 2, 4} {
		if first.TeacherScores[i] != second.TeacherScores[i] {
			t.Errorf("passage %d: cached score %v differs from %v", i, second.TeacherScores[i], first.TeacherScores[i])
		}
	}
	st := tch.Stats()
	if st.Cache.Hits != 6 || st.Cache.Misses != 4 || st.Sent != 4 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("second pass: hit rate %.2f", st.Cache.HitRate())
}

// flakyVLLM is the vLLM emulator (real Llama-3 tokenizer) behind a front that fails 30% of
// scoring requests with 500, 429 (Retry-After: 0) or a hang past the client's timeout.
func flakyVLLM(t *testing.T, seed uint64) *httptest.Server {
	raw, _ := emutest.Load(t)
	emu, err := lmemu.New(lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, true), Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		roll := rng.Float64()
		mu.Unlock()
		switch {
		case r.URL.Path != "/v1/completions":
		case roll < 0.1:
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		case roll < 0.2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		case roll < 0.3:
			select {
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
			}
			return
		}
		emu.ServeHTTP(w, r)
	}))
}

// TestFlakyServerLosesNoRecord: against a server failing 30% of requests, every candidate set
// ends scored or dead-lettered with a reason, after a runner-like retry loop.
func TestFlakyServerLosesNoRecord(t *testing.T) {
	srv := flakyVLLM(t, 42)
	defer srv.Close()
	tch, err := lmteacher.Open(t.Context(), lmteacher.Config{LM: srv.URL + "/v1", Backend: "vllm", Model: "m", Timeout: 150 * time.Millisecond, Retries: 2, Concurrency: 4, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	const n = 40
	scored, dead := 0, map[string]string{}
	for i := 0; i < n; i++ {
		c := cands(fmt.Sprintf("q%d", i), []string{"Paris", "Paname"}, "a", "b", "c")
		if i == 7 {
			c.Query.GoldenAnswers = nil // cannot be scored by LSR: dead-lettered at once
		}
		var lastErr error
		ok := false
		for attempt := 0; attempt < 6 && !ok; attempt++ { // the stage runner's budget
			s, err := tch.Teach(t.Context(), c)
			if err == nil {
				if verr := s.Validate(); verr != nil {
					t.Fatal(verr)
				}
				ok = true
				break
			}
			lastErr = err
			if streams.IsPermanent(err) {
				break
			}
		}
		switch {
		case ok:
			scored++
		default:
			dead[c.Query.ID] = streams.ReasonOf(lastErr)
		}
	}
	if scored+len(dead) != n {
		t.Fatalf("lost records: %d scored + %d dead != %d", scored, len(dead), n)
	}
	if dead["q7"] != "no-answers" {
		t.Errorf("q7 dead-letter reason %q", dead["q7"])
	}
	for id, reason := range dead {
		if reason == "" {
			t.Errorf("%s dead-lettered without a reason", id)
		}
	}
	if scored < n-3 {
		t.Errorf("only %d of %d scored: retries are not working (%v)", scored, n, dead)
	}
	t.Logf("scored %d, dead-lettered %d %v", scored, len(dead), dead)
}
