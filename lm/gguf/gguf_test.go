package gguf_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/gguf"
	"github.com/lsrflow/lsrflow/lm/gguf/ggufwrite"
)

var (
	modelOnce sync.Once
	modelPath string
	modelErr  error
)

// tinyModel writes (once per test binary) a random-weight 64-wide, 2-layer llama GGUF with
// the llama SentencePiece vocabulary, and opens it.
func tinyModel(t *testing.T) *gguf.Model {
	t.Helper()
	lib := testenv.CachePath(t, "llama", "llama", "lib")
	vocab := testenv.CachePath(t, "llama", "llama", "src", "models", "ggml-vocab-llama-spm.gguf")
	modelOnce.Do(func() {
		dir, err := testTempDir()
		if err != nil {
			modelErr = err
			return
		}
		modelPath = filepath.Join(dir, "tiny.gguf")
		modelErr = ggufwrite.Write(modelPath, vocab, ggufwrite.Tiny(7))
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	m, err := gguf.Open(modelPath, gguf.Options{LibDir: lib, ContextSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

const prompt = "Answer the question based on the given document.\nDoc 1(Title: Apollo 11) Apollo 11 landed on the Moon in 1969 near the Sea of Tranquility.\nQuestion: when did apollo 11 land?\nAnswer:"

var tricky = []lm.Request{
	{Prompt: prompt, Target: " 1969"},               // digits: one token per digit
	{Prompt: prompt + " ", Target: "1969"},          // the space belongs to the prompt: straddling token
	{Prompt: prompt, Target: " Zürich"},             // unicode
	{Prompt: prompt, Target: " 東京"},                 // byte-fallback tokens
	{Prompt: prompt, Target: " Sea of Tranquility"}, // several words
	{Prompt: prompt, Target: " the Moon"},
	{Prompt: prompt + " the", Target: "ir"},                        // answer merges with the prompt's last word
	{Prompt: "Question: who?\nAnswer:", Target: " Neil Armstrong"}, // a different stem
}

func TestTargetTokensAreLocatedExactly(t *testing.T) {
	m := tinyModel(t)
	for _, r := range tricky {
		toks := m.Tokenize(r.Text())
		res, err := m.ScoreOne(t.Context(), r, gguf.FullLogits)
		if err != nil {
			t.Fatalf("%q: %v", r.Target, err)
		}
		n := len(res.TokenLogprobs)
		first := len(toks) - n
		// Independent check with the library's own detokenizer: the target tokens render the
		// target (perhaps with a boundary character of the prompt), the tokens before do not
		// reach into it.
		tail := m.Detokenize(toks[first:])
		head := m.Detokenize(toks[:first])
		if !strings.HasSuffix(tail, r.Target) && !strings.HasSuffix(tail, strings.TrimLeft(r.Target, " ")) {
			t.Errorf("%q: target tokens render %q", r.Target, tail)
		}
		if len(head) > len(r.Prompt)+1 || !strings.HasPrefix(" "+r.Prompt, head) && !strings.HasPrefix(r.Prompt, head) {
			t.Errorf("%q: prompt tokens render %q, reach into the target", r.Target, head)
		}
		if n == 0 {
			t.Errorf("%q: no target tokens", r.Target)
		}
	}
}

// TestPrefixReuseAgreesWithOneAtATime: batched scoring (the shared prefix decoded once, several
// targets branching from one stem) agrees within 1e-4 with scoring each request in its own
// call, with decoding each text alone with logits everywhere, and with decoding one token per
// call. The differences (~1e-7 with flash attention off) come from ggml choosing a different
// matmul kernel, with a different summation order, for a different number of rows per call.
func TestPrefixReuseAgreesWithOneAtATime(t *testing.T) {
	m := tinyModel(t)
	batched, err := m.Score(t.Context(), tricky)
	if err != nil {
		t.Fatal(err)
	}
	maxDiff := 0.0
	for i, r := range tricky {
		alone, err := m.Score(t.Context(), []lm.Request{r})
		if err != nil {
			t.Fatal(err)
		}
		full, err := m.ScoreOne(t.Context(), r, gguf.FullLogits)
		if err != nil {
			t.Fatal(err)
		}
		cmp := [][]float64{alone[0].TokenLogprobs, full.TokenLogprobs}
		if i < 2 { // token by token is slow: one decode call per token
			tbt, err := m.ScoreOne(t.Context(), r, gguf.TokenByToken)
			if err != nil {
				t.Fatal(err)
			}
			cmp = append(cmp, tbt.TokenLogprobs)
		}
		for c, other := range cmp {
			if len(other) != len(batched[i].TokenLogprobs) {
				t.Fatalf("%q: token counts differ: %d vs %d", r.Target, len(batched[i].TokenLogprobs), len(other))
			}
			for j, b := range batched[i].TokenLogprobs {
				if !(b < 0) {
					t.Errorf("%q token %d: log-prob %v is not negative", r.Target, j, b)
				}
				d := math.Abs(b - other[j])
				if d > 1e-4 {
					t.Errorf("%q token %d: batched %v vs %v (comparison %d)", r.Target, j, b, other[j], c)
				}
				maxDiff = max(maxDiff, d)
			}
		}
	}
	t.Logf("max |difference| over modes: %g", maxDiff)
}

// TestPrefixReuseSavesTokens: k passages with a shared instruction and two answers each decode
// the instruction once and each answer branch without re-decoding the passage.
func TestPrefixReuseSavesTokens(t *testing.T) {
	m := tinyModel(t)
	instr := "Answer the question based on the given document. Only give me the answer and do not output any other words.\nThe following are given documents.\n\n"
	var reqs []lm.Request
	total := 0
	for i, doc := range []string{"Paris is the capital of France.", "Berlin is in Germany.", "The Seine flows through Paris."} {
		p := instr + "Doc 1(Title: d" + string(rune('a'+i)) + ") " + doc + "\nQuestion: what is the capital of france?\nAnswer:"
		for _, a := range []string{" Paris", " the city of Paris"} {
			reqs = append(reqs, lm.Request{Prompt: p, Target: a})
			total += len(m.Tokenize(p + a))
		}
	}
	c0 := m.Counters()
	res, err := m.Score(t.Context(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	c1 := m.Counters()
	decoded := c1.Tokens - c0.Tokens
	instrToks := len(m.Tokenize(instr)) - 2
	if decoded >= int64(total-2*instrToks) {
		t.Errorf("decoded %d tokens, naive would decode %d: prefix and stems not reused", decoded, total)
	}
	outputs := c1.Outputs - c0.Outputs
	want := 0
	for _, r := range res {
		want += len(r.TokenLogprobs)
	}
	if outputs > int64(want) {
		t.Errorf("%d logit rows computed for %d target tokens", outputs, want)
	}
	for i, r := range reqs {
		one, err := m.ScoreOne(t.Context(), r, gguf.FullLogits)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(one.Sum()-res[i].Sum()) > 1e-4 {
			t.Errorf("request %d: batched %v, alone %v", i, res[i].Sum(), one.Sum())
		}
	}
}

func testTempDir() (string, error) { return os.MkdirTemp("", "lsrflow-gguf-test-") }

// TestSeparateLayout: requests with the seed teacher's layout (lm.LayoutSeparate: prompt and
// answer tokenized each on its own, no BOS added) are scored at the answer's own tokens:
// batched with prefix reuse, alone, and in one full-logits pass agree within 1e-4, the answer
// has as many log-probabilities as it has tokens on its own, and the scored sequence is the
// two encodings concatenated (a BOS-less prompt is decoded without BOS).
func TestSeparateLayout(t *testing.T) {
	m := tinyModel(t)
	var reqs []lm.Request
	for _, p := range []string{"<s>" + prompt, prompt, "Question: who?\nAnswer:"} {
		for _, a := range []string{"1969", " 1969", "Sea of Tranquility", "Zürich", "ir"} {
			reqs = append(reqs, lm.Request{Prompt: p, Target: a, Layout: lm.LayoutSeparate})
		}
	}
	// The vocabulary without BOS: the model's tokenization of the text minus the BOS it adds.
	noBOS := func(s string) int {
		toks := m.Tokenize(s)
		if !strings.HasPrefix(s, "<s>") {
			toks = toks[1:]
		}
		return len(toks)
	}
	batched, err := m.Score(t.Context(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		full, err := m.ScoreOne(t.Context(), r, gguf.FullLogits)
		if err != nil {
			t.Fatal(err)
		}
		if n := noBOS(r.Target); len(full.TokenLogprobs) != n || len(batched[i].TokenLogprobs) != n {
			t.Fatalf("%q + %q: %d and %d log-probabilities for an answer of %d tokens", r.Prompt[:10], r.Target, len(batched[i].TokenLogprobs), len(full.TokenLogprobs), n)
		}
		if want := noBOS(r.Prompt) + noBOS(r.Target); full.Tokens != want {
			t.Errorf("%q + %q: %d tokens scored, want %d (the two encodings concatenated)", r.Prompt[:10], r.Target, full.Tokens, want)
		}
		for j, b := range batched[i].TokenLogprobs {
			if d := math.Abs(b - full.TokenLogprobs[j]); !(b < 0) || d > 1e-4 {
				t.Errorf("%q + %q token %d: batched %v, full pass %v", r.Prompt[:10], r.Target, j, b, full.TokenLogprobs[j])
			}
		}
	}
}
