package tokenizer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bpeTokenizerJSON writes one of the testdata/make_bpe_tokenizer.py variants (gpt2, roberta,
// chars, nofuse, fallback) into a temp dir.
func bpeTokenizerJSON(t testing.TB, variant string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), variant+".json")
	runPython(t, "testdata/make_bpe_tokenizer.py", p, variant)
	return p
}

// bpeInputs adds byte-level BPE trouble spots to the shared table: the GPT-2 split pattern's
// contractions and whitespace rule, added tokens of the BPE variants, digits and symbols.
var bpeInputs = append(slices.Clone(trickyInputs),
	"don't it's we're they've I'm you'll he'd",
	"DON'T 'S 'Re ''s 'x '",
	"  leading", "trailing  ", "trailing \n", "a  b   c    d",
	"x\n\ny", " \n ", "\t\ttab", "\n", " ", "a \u00a0b\u3000 c",
	"hello<|endoftext|>world<|endoftext|>", "<s>hi</s> <pad><unk>",
	"1234567890 3.14 ½ ² ٣ 2024-01-01", "Hello, World!!! ...?? --> ...",
	"unbelievable tokenization Hello hello The the THE",
	"Café crème brûlée, naïve résumé. 中国人 北京 日本.",
	"lazy dog doesn't mind; the quick brown fox",
	"\x1c\x1d\x1e\x1f separators \u0085 nel",
)

// TestBPEParity compares the small BPE tokenizers with Hugging Face, whole and truncated.
func TestBPEParity(t *testing.T) {
	for _, variant := range []string{"gpt2", "roberta", "chars", "nofuse", "fallback"} {
		t.Run(variant, func(t *testing.T) {
			tokJSON := bpeTokenizerJSON(t, variant)
			tok, err := Load(tokJSON)
			if err != nil {
				t.Fatal(err)
			}
			for _, ml := range []int{0, 7} {
				ref := hfReference(t, tokJSON, bpeInputs, false, ml)
				// Offsets are not compared for "fallback": with a continuing_subword_prefix,
				// Hugging Face counts the prefix bytes of byte-fallback tokens as word bytes, so
				// its offsets run past the characters (a configuration no real file has).
				r := compareHF(t, tok.WithMaxLength(ml), bpeInputs, ref, variant != "fallback")
				t.Logf("%s max_length=%d: %v", variant, ml, r)
			}
		})
	}
}

// TestBPEByHand checks cases whose token strings were worked out by hand from the merges the
// generator writes (ranks in parentheses).
func TestBPEByHand(t *testing.T) {
	cases := []struct {
		variant string
		text    string
		toks    []string
	}{
		// d o (4) merges, then no merge for "do n"; 't is a contraction piece, ' t (49).
		{"gpt2", "don't", []string{"do", "n", "'t"}},
		// Ġ t h e: h e (0), Ġ t (1), Ġt he (9).
		{"gpt2", " the", []string{"Ġthe"}},
		// é is C3 A9, the characters Ã ©, merged by Ã © (6); the newline byte 0A is Ċ.
		{"gpt2", "é\n", []string{"Ã©", "Ċ"}},
		// \s+(?!\S) leaves the last space of "  " to the next word: "a", " ", " b". As one
		// piece the two spaces would have merged by Ġ Ġ (40); there is no Ġ b merge.
		{"gpt2", "a  b", []string{"a", "Ġ", "Ġ", "b"}},
		{"gpt2", "a<|endoftext|>", []string{"a", "<|endoftext|>"}},
		// ignore_merges: a whole word in the vocabulary wins over its merges.
		{"roberta", "unbelievable", []string{"<s>", "Ġunbelievable", "</s>"}},
		// h ##e ##l ##l ##o</w>: ##e ##l (6), ##el ##l (7), ##ell ##o</w> (8), h ##ello</w> (13).
		{"chars", "Hello", []string{"hello</w>"}},
		// Unknown characters fuse into one [UNK] with fuse_unk, not without.
		{"chars", "h☃☃", []string{"h", "[UNK]"}},
		{"nofuse", "h☃☃", []string{"h", "[UNK]", "[UNK]"}},
		// Byte fallback for ☃ (E2 98 83); 😀 starts with F0, which has no byte token.
		{"fallback", "☃😀", []string{"<0xE2>", "<0x98>", "<0x83>", "[UNK]"}},
	}
	paths := map[string]string{}
	for _, c := range cases {
		p, ok := paths[c.variant]
		if !ok {
			p = bpeTokenizerJSON(t, c.variant)
			paths[c.variant] = p
		}
		tok, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tok.Encode(c.text, true).IDs, vocabIDs(t, p, c.toks...); !slices.Equal(got, want) {
			t.Errorf("%s %q: got %v want %v (%v)", c.variant, c.text, got, want, c.toks)
		}
	}
}

// TestGPT2Split checks the GPT-2 pattern, run by the regex engine, on its own.
func TestGPT2Split(t *testing.T) {
	cases := map[string][]string{
		"a   b":          {"a", "  ", " b"},
		"a b  ":          {"a", " b", "  "},
		"x \ny":          {"x", " ", "\n", "y"},
		"it's 'll'x":     {"it", "'s", " '", "ll", "'", "x"},
		" 123abc!? ":     {" 123", "abc", "!?", " "},
		"\u00a0word":     {"\u00a0", "word"},
		"  \u3000 ¡hola": {"  \u3000", " ¡", "hola"},
	}
	for in, want := range cases {
		var got []string
		gpt2Regex().findAll(in, func(start, end int) { got = append(got, in[start:end]) })
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestBPELoadErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}`, `"b" is not in the vocabulary`},
		{`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[["a","b"]]}}`, `merged token "ab"`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}}`, `not a pair`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}`, `unk_token`},
		{`{"model":{"type":"BPE","vocab":{},"merges":[],"dropout":0.1}}`, `dropout`},
	} {
		if _, err := Parse([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.json, err, c.want)
		}
	}
}

func BenchmarkEncodeByteLevelBPE(b *testing.B) {
	tok, err := Load(bpeTokenizerJSON(b, "gpt2"))
	if err != nil {
		b.Fatal(err)
	}
	text := "Who wrote the novel that was adapted into the 1962 film about a lawyer in Alabama?"
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}
