package lmteacher_test

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// seedSet is one candidate set of the seed tests: case i's question and answer with the
// passages of cases i and i+1 (so that the softmax over passages is checked too).
type seedSet struct {
	cand    schemas.Candidates
	prompts []string // per passage, as the seed teacher renders it (checked byte for byte elsewhere)
	answer  string
}

const seedK = 2

// seedData holds the sets of a chat template and their recomputation, shared by the tests of
// this binary (the dense recomputation is the expensive part).
type seedData struct {
	sets []seedSet
	want []seedWant
}

var (
	seedMu    sync.Mutex
	seedCache = map[string]*seedData{}
)

func seedFor(t *testing.T, raw *tokenizer.Tokenizer, chat string) *seedData {
	t.Helper()
	seedMu.Lock()
	defer seedMu.Unlock()
	if d, ok := seedCache[chat]; ok {
		return d
	}
	d := &seedData{sets: seedSets(t, chat)}
	d.want = make([]seedWant, len(d.sets))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d.want[i] = recomputeSeed(raw, d.sets[i])
			}
		}()
	}
	for i := range d.sets {
		next <- i
	}
	close(next)
	wg.Wait()
	seedCache[chat] = d
	return d
}

func seedSets(t *testing.T, chat string) []seedSet {
	t.Helper()
	cases := seedCases(t)
	tmpl := prompt.FlashRAG(chat)
	var out []seedSet
	for i, c := range cases {
		s := seedSet{answer: c.Answer}
		s.cand = schemas.Candidates{SchemaVersion: 1,
			Query: schemas.Query{SchemaVersion: 1, ID: fmt.Sprintf("q%d", i), Question: c.Question, GoldenAnswers: []string{"unused"}, SeedAnswer: c.Answer}}
		for j := 0; j < seedK; j++ {
			d := schemas.Passage{ID: fmt.Sprintf("p%d", (i+j)%len(cases)), Contents: cases[(i+j)%len(cases)].Contents, Score: float64(seedK - j)}
			s.cand.Docs = append(s.cand.Docs, d)
			s.prompts = append(s.prompts, tmpl.QA(c.Question, []schemas.Passage{d}))
		}
		out = append(out, s)
	}
	return out
}

// seedWant is the independent recomputation of one set: per passage the sum of the answer's
// token log-probabilities over the separately encoded ids (teacher_scores) and the softmax of
// the mean token probabilities (the experiment's scores), in float64.
type seedWant struct {
	lps        [][]float64 // per passage, the answer's token log-probabilities
	sums, dist []float64
	// tgiOK: TGI, which tokenizes the text itself and always adds BOS, gets the same ids for
	// every passage of the set.
	tgiOK bool
}

func recomputeSeed(raw *tokenizer.Tokenizer, s seedSet) seedWant {
	w := seedWant{tgiOK: true}
	means := make([]float64, len(s.prompts))
	for i, pr := range s.prompts {
		ids, ctx := emutest.SeparateIDs(raw, pr, s.answer)
		lps := emutest.TokenLogprobs(ids, ctx, raw.VocabSize())
		sum, mean := 0.0, 0.0
		for _, l := range lps {
			sum += l
			mean += math.Exp(l)
		}
		w.lps = append(w.lps, lps)
		w.sums = append(w.sums, sum)
		means[i] = mean / float64(len(lps))
		// What TGI scores: the text (its own BOS spelling removed, since TGI adds BOS) encoded
		// with special tokens.
		tgi := raw.Encode(strings.TrimPrefix(pr+s.answer, "<|begin_of_text|>"), true).IDs
		w.tgiOK = w.tgiOK && slices.Equal(tgi, ids)
	}
	mx := slices.Max(means)
	z := 0.0
	for _, m := range means {
		z += math.Exp(m - mx)
	}
	for _, m := range means {
		w.dist = append(w.dist, math.Exp(m-mx)/z)
	}
	return w
}

// TestSeedScoresThroughEmulators: the seed teacher's teacher_scores (sum of the answer's token
// log-probabilities) and scores (softmax of mean token probabilities) through every emulated
// server, with the real Llama-3 tokenizer, on every demo question and every QED test question
// (plus FlashRAG formatting edge cases; vLLM's echo path scores all of them, the other
// servers every third set), for Llama-3 Instruct's chat template and the base model's plain
// prompt, equal an independent float64 recomputation over the separately encoded ids of
// cal_gen_probs within 1e-6. TGI, which takes text and always adds BOS, either
// scores exactly those ids or fails the query with a permanent, named error: always for the
// plain prompt (the experiment scored it without BOS), and for a chat prompt exactly when
// tokenizing prompt+answer as one text gives other ids.
func TestSeedScoresThroughEmulators(t *testing.T) {
	raw, _ := emutest.Load(t)
	local, err := lm.NewLocalTokenizer(raw, "tokenizer.json@llama3_1")
	if err != nil {
		t.Fatal(err)
	}
	configs := []struct {
		backend, server string
		tgi             bool
	}{
		{"vllm", lmemu.VLLM, false}, {"vllm", lmemu.VLLM06, false}, {"vllm-prompt-logprobs", lmemu.VLLM, false},
		{"tgi", lmemu.TGI2, true}, {"tgi", lmemu.TGI3, true}, {"sglang", lmemu.SGLang, false},
	}
	for _, chat := range []string{prompt.ChatLlama3, prompt.ChatPlain} {
		d := seedFor(t, raw, chat)
		sets, want := d.sets, d.want
		tgiFail := 0
		for i := range sets {
			if !want[i].tgiOK {
				tgiFail++
			}
		}
		t.Logf("%s: %d candidate sets, %d of them not scorable by TGI's text tokenization", chat, len(sets), tgiFail)
		for ci, cf := range configs {
			cleanUp := ci%2 == 0
			var tok lm.Tokenizer = local
			if !cleanUp {
				tok = nil // the server's /tokenize
			}
			t.Run(fmt.Sprintf("%s/%s-on-%s/cleanup=%v", chat, cf.backend, cf.server, cleanUp), func(t *testing.T) {
				ts, _ := emutest.Start(t, lmemu.Options{Kind: cf.server, Tokenizer: lmemu.NewTokenizer(raw, -1, cleanUp), Model: "m", PrefillLogprobs: true})
				tch, err := lmteacher.Open(t.Context(), lmteacher.Config{Method: lmteacher.MethodSeed, LM: ts.URL + "/v1", Backend: cf.backend, Model: "m",
					LocalTokenizer: tok, Chat: chat, NoCache: true, Timeout: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer tch.Close()
				if id := tch.Identity(); id.TokenLayout != "separate" || id.ScoreTransform != lmteacher.TransformMeanTok {
					t.Fatalf("identity %+v: want token_layout separate, mean-token-prob", id)
				}
				scored, refused := 0, 0
				for i, s := range sets {
					if ci > 0 && i%3 != 0 {
						continue
					}
					got, err := tch.Teach(t.Context(), s.cand)
					if cf.tgi && !want[i].tgiOK {
						if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "--backend vllm or sglang") {
							t.Fatalf("set %d: TGI cannot be given these ids; want a permanent error naming vllm/sglang, got %v", i, err)
						}
						refused++
						continue
					}
					if err != nil {
						t.Fatalf("set %d (answer %q): %v (would be dead-lettered)", i, s.answer, err)
					}
					for j := range s.prompts {
						if d := math.Abs(got.TeacherScores[j] - want[i].sums[j]); d > 1e-6 {
							t.Errorf("set %d passage %d: teacher score %.9f, recomputed %.9f", i, j, got.TeacherScores[j], want[i].sums[j])
						}
						if d := math.Abs(got.Scores[j] - want[i].dist[j]); d > 1e-6 {
							t.Errorf("set %d passage %d: score %.9f, recomputed %.9f", i, j, got.Scores[j], want[i].dist[j])
						}
					}
					scored++
				}
				t.Logf("%d sets scored exactly, %d refused", scored, refused)
			})
		}
	}
}

// TestSeedLayoutIsNotTheJointOne: the separately encoded layout differs from
// lm-evaluation-harness' joint one on these prompts (for every chat-template prompt, whose
// trailing "\n\n" the joint rule moves into the target, and for plain prompts where the
// answer merges with the question's last characters), and the comparison of
// TestSeedScoresThroughEmulators would catch a backend that scored the joint layout: scored
// with Layout lm-eval through the vLLM emulator, every such pair's teacher score misses the
// recomputation. (Mean token probabilities alone would not always show it on the emulator:
// its tokens outside the few candidates have probability ~1/V whatever the context; and a
// plain prompt's BOS shifts a one-token answer's log-probability by as little as 1e-6.)
func TestSeedLayoutIsNotTheJointOne(t *testing.T) {
	raw, _ := emutest.Load(t)
	local, err := lm.NewLocalTokenizer(raw, "tokenizer.json@llama3_1")
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, true), Model: "m"})
	c, err := httplm.New(httplm.Options{Kind: httplm.KindVLLM, BaseURL: ts.URL + "/v1", Model: "m", Tokenizer: local, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, chat := range []string{prompt.ChatLlama3, prompt.ChatPlain} {
		var reqs []lm.Request
		var want [][]float64
		differ, merged := 0, 0
		d := seedFor(t, raw, chat)
		for i, s := range d.sets {
			pr := s.prompts[0]
			ids, ctx := emutest.SeparateIDs(raw, pr, s.answer)
			joint, err := lm.EncodePair(t.Context(), local, pr, s.answer)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(joint.IDs, ids) || joint.ContextLen != ctx {
				differ++
			}
			// The answer's ids also differ when tokenized together with the prompt (a merge
			// across the boundary), whatever is done with BOS and whitespace.
			if !slices.Equal(raw.Encode(pr+s.answer, false).IDs, ids) {
				merged++
			}
			reqs = append(reqs, lm.Request{Prompt: pr, Target: s.answer})
			want = append(want, d.want[i].lps[0])
		}
		mismatched := func(layout lm.Layout) int {
			rs := slices.Clone(reqs)
			for i := range rs {
				rs[i].Layout = layout
			}
			res, err := c.Score(t.Context(), rs)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, r := range res {
				if len(r.TokenLogprobs) != len(want[i]) || math.Abs(lmteacher.PairScore(r.TokenLogprobs, false)-lmteacher.PairScore(want[i], false)) > 1e-6 {
					n++
				}
			}
			return n
		}
		sep, joint := mismatched(lm.LayoutSeparate), mismatched(lm.LayoutLMEval)
		t.Logf("%s: %d pairs, lm-eval's joint layout differs on %d, prompt+answer tokenized as one text on %d; the teacher score misses the recomputation on %d with the joint layout, %d with the separate one",
			chat, len(reqs), differ, merged, joint, sep)
		if differ == 0 || sep != 0 || joint == 0 {
			t.Errorf("%s: want joint != separate on some pairs (%d), the separate layout exact (%d misses) and the joint one caught (%d misses)", chat, differ, sep, joint)
		}
		if chat == prompt.ChatLlama3 && (differ != len(reqs) || joint != len(reqs)) {
			t.Errorf("llama3: the joint rule moves the assistant header's \"\\n\\n\" into the target of every pair; differs on %d and caught on %d of %d", differ, joint, len(reqs))
		}
	}
}

// TestSeedLayoutMatchesHuggingFace: the ids the seed teacher sends (lm.EncodeSeparate with
// the model's tokenizer.json) equal what cal_gen_probs builds with Hugging Face's library —
// encode(prompt, add_special_tokens=False) + encode(answer, add_special_tokens=False), run
// by the real tokenizers library — for every demo and QED prompt of both templates, with
// Meta's original Llama-3 tokenizer.json (the experiment's Meta-Llama-3-8B-Instruct) and the
// revised Llama-3.1 one (whose post-processor adds BOS, which add_special_tokens=False skips).
func TestSeedLayoutMatchesHuggingFace(t *testing.T) {
	pathBOS, pathOrig := emutest.Paths(t)
	rawBOS, rawOrig := emutest.Load(t)
	var prompts, answers []string
	for _, chat := range []string{prompt.ChatLlama3, prompt.ChatPlain} {
		for _, s := range seedSets(t, chat) {
			prompts = append(prompts, s.prompts[0])
			answers = append(answers, s.answer)
		}
	}
	for _, tc := range []struct {
		path string
		raw  *tokenizer.Tokenizer
	}{{pathOrig, rawOrig}, {pathBOS, rawBOS}} {
		hf := emutest.HF(t, tc.path, append(slices.Clone(prompts), answers...), false)
		local, err := lm.NewLocalTokenizer(tc.raw, tc.path)
		if err != nil {
			t.Fatal(err)
		}
		bos := 0
		for i, pr := range prompts {
			want := append(slices.Clone(hf.Plain[i]), hf.Plain[len(prompts)+i]...)
			got, err := lm.EncodeSeparate(t.Context(), local, pr, answers[i])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.IDs, want) || got.ContextLen != len(hf.Plain[i]) {
				t.Fatalf("%s pair %d (%q): ids differ from the library's layout:\n got  %v\n want %v", tc.path, i, answers[i], got.IDs, want)
			}
			if want[0] == emutest.BOSID {
				bos++
			}
		}
		t.Logf("%s: %d separately encoded pairs equal the library's (%d start with BOS: the chat prompts)", tc.path, len(prompts), bos)
		if bos != len(prompts)/2 {
			t.Errorf("%d of %d layouts start with BOS; want exactly the chat template's half", bos, len(prompts))
		}
	}
}
