package tokenizer

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
)

const python = "/usr/bin/python3"

// runPython runs a script under Debian's python3 (setup step apt) and returns its stdout.
func runPython(t testing.TB, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: run `scripts/setup.sh apt`", python)
	}
	cmd := exec.CommandContext(t.Context(), python, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// bertTokenizerJSON writes the test WordPiece tokenizer.json into a temp dir.
func bertTokenizerJSON(t testing.TB, maxLength int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	args := []string{"testdata/make_bert_tokenizer.py", p}
	if maxLength > 0 {
		args = append(args, strconv.Itoa(maxLength))
	}
	runPython(t, args...)
	return p
}

// trickyInputs is the parity table of the WordPiece tests (part of every parity table).
var trickyInputs = []string{
	"",
	"   ",
	"Hello, World!",
	"what is the capital of France?",
	"Café naïve résumé",
	"ÀÉÎÕÜ àéîõü Ångström façade",
	"İstanbul ΣΑΣ straße",
	"中国人 北京 日本",
	"mixed中文text",
	"tabs\tand\nnew\r\nlines  double  spaces",
	"ctrl\x00chars\x07and\u200bzero\ufeffwidth\ufffd",
	"non\u00a0breaking\u2003em\u3000ideographic",
	"quotes “curly” ‘single’ — dash … ellipsis",
	"a-b_c.d/e:f;g<h>i=j?k@l[m]n^o`p{q}r|s~t",
	"$100 & 50% + #hash * (parens)",
	"unbelievable unbelievably tokenizers embedding",
	strings.Repeat("a", 99),
	strings.Repeat("a", 100),
	strings.Repeat("a", 101),
	strings.Repeat("ab", 60) + " tail",
	"[CLS] literal [SEP] specials[MASK]inside",
	"[UNK]x [PAD]",
	"emoji 😀👍🏽 snow ☃☃ and 𠀀 rare cjk",
	"the quick brown fox jumps over the lazy dog " + strings.Repeat("the fox ", 40),
	"ﬁnancial ﬂow (ligatures) ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ",
	"Zürich Über Œuvre Ærø Łódź",
	"'apostrophe's' \"double\" back\\slash",
}

// TestWordPieceParity compares the BERT-style tokenizer with Hugging Face, truncated to several
// lengths (max length counts the special tokens).
func TestWordPieceParity(t *testing.T) {
	tokJSON := bertTokenizerJSON(t, 0)
	tok, err := Load(tokJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, ml := range []int{0, 2, 3, 8, 16} {
		ref := hfReference(t, tokJSON, trickyInputs, false, ml)
		r := compareHF(t, tok.WithMaxLength(ml), trickyInputs, ref, true)
		t.Logf("max_length=%d: %v", ml, r)
	}
}

func TestTruncationFromTokenizerJSON(t *testing.T) {
	tok, err := Load(bertTokenizerJSON(t, 6))
	if err != nil {
		t.Fatal(err)
	}
	if tok.MaxLength() != 6 {
		t.Fatalf("MaxLength = %d, want 6", tok.MaxLength())
	}
	e := tok.Encode("the quick brown fox jumps over", true)
	if len(e.IDs) != 6 || e.IDs[0] != mustID(t, tok, "[CLS]") || e.IDs[5] != mustID(t, tok, "[SEP]") {
		t.Fatalf("truncated ids %v", e.IDs)
	}
}

func mustID(t *testing.T, tok *Tokenizer, s string) int {
	t.Helper()
	id, ok := tok.TokenID(s)
	if !ok {
		t.Fatalf("token %q not in vocab", s)
	}
	return id
}

// vocabIDs maps token strings to ids with a vocabulary read straight from the JSON file, not
// through the code under test.
func vocabIDs(t *testing.T, tokJSON string, toks ...string) []int {
	t.Helper()
	b, err := os.ReadFile(tokJSON)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Vocab json.RawMessage `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	var wp map[string]int
	if json.Unmarshal(f.Model.Vocab, &wp) == nil {
		ids = wp
	} else {
		var ug [][2]any
		if err := json.Unmarshal(f.Model.Vocab, &ug); err != nil {
			t.Fatal(err)
		}
		for i, e := range ug {
			ids[e[0].(string)] = i
		}
	}
	out := make([]int, len(toks))
	for i, s := range toks {
		id, ok := ids[s]
		if !ok {
			t.Fatalf("hand-derived token %q is not in the vocabulary", s)
		}
		out[i] = id
	}
	return out
}

// TestWordPieceByHand checks cases whose token strings were worked out by hand from the rules.
func TestWordPieceByHand(t *testing.T) {
	tokJSON := bertTokenizerJSON(t, 0)
	tok, err := Load(tokJSON)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		toks []string
	}{
		{"Hello, World!", []string{"[CLS]", "hello", ",", "world", "!", "[SEP]"}},
		{"Café résumé", []string{"[CLS]", "cafe", "resume", "[SEP]"}},
		{"北京x", []string{"[CLS]", "北", "京", "x", "[SEP]"}},
		{"unbelievable", []string{"[CLS]", "un", "##believ", "##able", "[SEP]"}},
		{"jumped", []string{"[CLS]", "jump", "##ed", "[SEP]"}},
		{"☃", []string{"[CLS]", "[UNK]", "[SEP]"}},
		{strings.Repeat("a", 101), []string{"[CLS]", "[UNK]", "[SEP]"}},
		{"x[SEP]", []string{"[CLS]", "x", "[SEP]", "[SEP]"}},
		{"", []string{"[CLS]", "[SEP]"}},
	}
	for _, c := range cases {
		if got, want := tok.Encode(c.text, true).IDs, vocabIDs(t, tokJSON, c.toks...); !slices.Equal(got, want) {
			t.Errorf("%q: got %v want %v (%v)", c.text, got, want, c.toks)
		}
	}
}

func model2vecTokenizer(t testing.TB) string {
	return testenv.SharedFile(t, "models/model2vec-bge-base-q128/tokenizer.json")
}

func TestUnigramByHand(t *testing.T) {
	path := model2vecTokenizer(t)
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		toks []string
	}{
		// Lowercased, Metaspace-prefixed whole words that are in the vocabulary.
		{"Hello World", []string{"▁hello", "▁world"}},
		// The Replace normalizers pad punctuation with spaces, so it becomes its own ▁-piece.
		{"hello,world!", []string{"▁hello", "▁,", "▁world", "▁!"}},
		// Accents are stripped (strip_accents null + lowercase true).
		{"Café", []string{"▁cafe"}},
		// Unknown characters (and the ▁ before them, not a piece on its own) fuse into one [UNK].
		{"☃☃", []string{"[UNK]"}},
		{"", nil},
	}
	for _, c := range cases {
		want := []int{}
		if c.toks != nil {
			want = vocabIDs(t, path, c.toks...)
		}
		got := tok.Encode(c.text, true).IDs
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %v want %v (%v)", c.text, got, want, c.toks)
		}
	}
}

func TestEncodeBatchPads(t *testing.T) {
	tok, err := Load(bertTokenizerJSON(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	b := tok.EncodeBatch([]string{"hello", "hello world fox"}, true)
	if b.Rows != 2 || b.Cols != 5 {
		t.Fatalf("shape %dx%d, want 2x5", b.Rows, b.Cols)
	}
	wantMask := []int64{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}
	if !slices.Equal(b.AttentionMask, wantMask) {
		t.Fatalf("mask %v want %v", b.AttentionMask, wantMask)
	}
	pad := int64(mustID(t, tok, "[PAD]"))
	if b.IDs[3] != pad || b.IDs[4] != pad {
		t.Fatalf("padding ids %v", b.IDs)
	}
}

func TestUnsupportedComponent(t *testing.T) {
	_, err := Parse([]byte(`{"model":{"type":"WordLevel","vocab":{},"unk_token":"x"}}`))
	if err == nil || !strings.Contains(err.Error(), `"WordLevel"`) {
		t.Fatalf("err = %v, want unsupported WordLevel", err)
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range trickyInputs {
		f.Add(s)
	}
	tok, err := Load(model2vecTokenizer(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := tok.Encode(s, true)
		for _, id := range e.IDs {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}

func BenchmarkEncodeUnigram(b *testing.B) {
	tok, err := Load(model2vecTokenizer(b))
	if err != nil {
		b.Fatal(err)
	}
	text := "Who wrote the novel that was adapted into the 1962 film about a lawyer in Alabama?"
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}
