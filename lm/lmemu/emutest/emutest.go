// Package emutest helps tests score through the emulated servers of lm/lmemu: it loads the
// real Llama-3 tokenizer files that scripts/setup.sh installs (once per test binary), starts
// emulators, and recomputes expected target log-likelihoods independently of the code under
// test: the (context, continuation) split written afresh from lm-evaluation-harness' rules on
// strings, and every log-probability computed densely over the whole vocabulary in float64.
package emutest

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/lm/lmemu"
)

var (
	once              sync.Once
	withBOS, original *tokenizer.Tokenizer
	loadErr           error
)

// Paths returns the Llama-3.1 tokenizer.json (its post-processor adds <|begin_of_text|>) and
// the original Llama-3 one (which adds nothing: the "no BOS" tokenizer).
func Paths(tb testing.TB) (bos, noBOS string) {
	tb.Helper()
	return testenv.CachePath(tb, "tokenizers", "tokenizers", "models", "llama3_1", "tokenizer.json"),
		testenv.CachePath(tb, "tokenizers", "tokenizers", "models", "llama3", "tokenizer.json")
}

// Load returns both tokenizers, parsed once per test binary.
func Load(tb testing.TB) (bos, noBOS *tokenizer.Tokenizer) {
	tb.Helper()
	p1, p2 := Paths(tb)
	once.Do(func() {
		if withBOS, loadErr = tokenizer.Load(p1); loadErr != nil {
			return
		}
		original, loadErr = tokenizer.Load(p2)
	})
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return withBOS, original
}

// BOSID is Llama-3's <|begin_of_text|>.
const BOSID = 128000

// Start serves an emulator; it is closed with the test.
func Start(tb testing.TB, o lmemu.Options) (*httptest.Server, *lmemu.Server) {
	tb.Helper()
	s, err := lmemu.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(s)
	tb.Cleanup(ts.Close)
	return ts, s
}

// pyRstripSpace is Python's str.isspace set used by rstrip().
func pyRstripSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// Split is lm-evaluation-harness' _encode_pair for a causal model with a tokenizer that adds
// BOS (tok_encode: no special tokens when the text starts with the BOS string): it returns the
// whole ids and the context length.
func Split(t *tokenizer.Tokenizer, bosText, context, continuation string) (whole []int, ctxLen int) {
	trimmed := strings.TrimRightFunc(context, pyRstripSpace)
	continuation = context[len(trimmed):] + continuation
	context = trimmed
	enc := func(s string) []int {
		special := bosText == "" || !strings.HasPrefix(s, bosText)
		return t.Encode(s, special).IDs
	}
	whole = enc(context + continuation)
	c := enc(context)
	n := len(c)
	// A merge across the boundary: the merged token counts for the continuation.
	for k := 0; k < len(c); k++ {
		if k >= len(whole) || whole[k] != c[k] {
			n = k
			break
		}
	}
	return whole, n
}

// Logprob recomputes log p(ids[j] | ids[:j]) of lmemu's model densely: every one of the V
// logits is materialized and log-softmaxed in float64, the hash of the prefix computed from
// scratch, the induction candidates found by scanning the prefix.
func Logprob(ids []int, j, vocab int) float64 {
	buf := logitsPool.Get().(*[]float64)
	defer logitsPool.Put(buf)
	if cap(*buf) < vocab {
		*buf = make([]float64, vocab)
	}
	logits := (*buf)[:vocab]
	clear(logits)
	prev := ids[j-1]
	for k := 0; k+1 < j; k++ {
		if ids[k] == prev {
			logits[ids[k+1]] = lmemu.InductionLogit
		}
	}
	h := uint64(14695981039346656037)
	for _, id := range ids[:j] {
		h = lmemu.HashStep(h, id)
	}
	for k := 0; k < lmemu.HashCandidates; k++ {
		v, l := lmemu.HashCandidate(h, k, vocab)
		logits[v] = math.Max(logits[v], l)
	}
	// The logits are finite, so plain comparisons find the maximum (math.Max's NaN and
	// signed-zero handling made this loop as slow as the exponentials).
	mx := math.Inf(-1)
	for _, l := range logits {
		if l > mx {
			mx = l
		}
	}
	z := 0.0
	for _, l := range logits {
		z += math.Exp(l - mx)
	}
	return logits[ids[j]] - mx - math.Log(z)
}

// Expected is the target's log-likelihood as the servers report it: each token's
// log-probability rounded to float32, summed in float64.
func Expected(t *tokenizer.Tokenizer, bosText, prompt, target string) (sum float64, n int) {
	whole, c := Split(t, bosText, prompt, target)
	for j := c; j < len(whole); j++ {
		sum += float64(float32(Logprob(whole, j, t.VocabSize())))
	}
	return sum, len(whole) - c
}

// logitsPool holds Logprob's dense logit vectors (one per concurrent call).
var logitsPool = sync.Pool{New: func() any { return new([]float64) }}

// SeparateIDs is the token layout of FlashRAG's cal_gen_probs (flashrag/generator/
// generator.py, HFCausalLMGenerator.cal_gen_probs), written from that source: input_ids =
// encode(prompt, add_special_tokens=False), target_ids = encode(answer,
// add_special_tokens=False), context_ids = input_ids + target_ids; the answer's
// probabilities are read at positions len(input_ids)-1 .. len(context_ids)-2, i.e. they are
// the probabilities of context_ids[len(input_ids):].
func SeparateIDs(t *tokenizer.Tokenizer, prompt, answer string) (ids []int, ctxLen int) {
	in := t.Encode(prompt, false).IDs
	target := t.Encode(answer, false).IDs
	ids = append(append([]int{}, in...), target...)
	return ids, len(in)
}

// TokenLogprobs recomputes the log-probabilities of ids[from:] as the servers report them
// (Logprob rounded to float32).
func TokenLogprobs(ids []int, from, vocab int) []float64 {
	out := make([]float64, 0, len(ids)-from)
	for j := from; j < len(ids); j++ {
		out = append(out, float64(float32(Logprob(ids, j, vocab))))
	}
	return out
}

// HFOut is what Hugging Face's tokenizers library says about a list of texts (HF).
type HFOut struct {
	Plain       [][]int    `json:"plain"`       // ids with add_special_tokens=False
	Decode      []string   `json:"decode"`      // decode(plain, skip_special_tokens=False)
	TokenDecode [][]string `json:"tokenDecode"` // decode([id]) for every plain id (when asked)
}

// HF runs Hugging Face's tokenizers library (its Rust core, through the npm binding that
// scripts/setup.sh installs) on texts with the tokenizer.json at tokPath, through
// embed/tokenizer/testdata/hfref.js.
func HF(tb testing.TB, tokPath string, texts []string, tokenDecode bool) HFOut {
	tb.Helper()
	dir := tb.TempDir()
	req, _ := json.Marshal(map[string]any{"mode": "encode", "modules": testenv.CachePath(tb, "tokenizers", "tokenizers"), "tokenizer": tokPath,
		"sets": []any{map[string]any{"texts": texts, "tokenDecode": tokenDecode}}})
	in, out := filepath.Join(dir, "req.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, req, 0o644); err != nil {
		tb.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatal("node is not on PATH: the Hugging Face parity tests need it (scripts/setup.sh)")
	}
	cmd := exec.Command(node, filepath.Join(testenv.RepoRoot(tb), "embed/tokenizer/testdata/hfref.js"), in, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("hfref.js: %v\n%s", err, b)
	}
	var r []HFOut
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r) != 1 || len(r[0].Plain) != len(texts) {
		tb.Fatalf("hfref.js output: %v (%d sets)", err, len(r))
	}
	return r[0]
}

// Query is a question with passages and gold answers from the shared QED / NQ data.
type Query struct {
	ID       string
	Question string
	Answers  []string
	Passages []Passage
}

// Passage is a corpus passage ("title\ntext").
type Passage struct{ ID, Contents string }

// Queries returns n QED test questions, each with its gold passage and the next passages of the
// corpus, and n NQ-open dev questions paired with QED passages (passages with " , " and
// multi-byte characters, as Wikipedia text has them).
func Queries(tb testing.TB, n, perQuery int) []Query {
	tb.Helper()
	corpus := readJSONL(tb, testenv.SharedFile(tb, "data/qed/corpus.jsonl"), 0)
	byID := map[string]int{}
	for i, c := range corpus {
		byID[c["id"].(string)] = i
	}
	var out []Query
	for _, q := range readJSONL(tb, testenv.SharedFile(tb, "data/qed/test.jsonl"), n) {
		gold := q["gold_doc_ids"].([]any)[0].(string)
		out = append(out, mkQuery(q, corpus, byID[gold], perQuery))
	}
	for i, q := range readJSONL(tb, testenv.SharedFile(tb, "data/nq-open/dev.jsonl"), n) {
		out = append(out, mkQuery(q, corpus, (37*i)%len(corpus), perQuery))
	}
	return out
}

func mkQuery(q map[string]any, corpus []map[string]any, first, k int) Query {
	out := Query{ID: q["id"].(string), Question: q["question"].(string)}
	for _, a := range q["golden_answers"].([]any) {
		out.Answers = append(out.Answers, a.(string))
	}
	for j := 0; j < k; j++ {
		c := corpus[(first+j)%len(corpus)]
		out.Passages = append(out.Passages, Passage{ID: c["id"].(string), Contents: c["contents"].(string)})
	}
	return out
}

func readJSONL(tb testing.TB, path string, limit int) []map[string]any {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}
