package lm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// wordTok is a tokenizer with known rules: "<s>" is id 1 (BOS), every other token is a run of
// non-space characters with the spaces before it, id = 100 + its length; "their" is one
// token, so "the" + "ir" merges across a boundary.
type wordTok struct{ bos bool }

func (w wordTok) Encode(_ context.Context, text string) ([]int, error) {
	var ids []int
	for strings.HasPrefix(text, "<s>") {
		ids = append(ids, 1)
		text = text[3:]
	}
	i := 0
	for i < len(text) {
		j := i
		for j < len(text) && text[j] == ' ' {
			j++
		}
		for j < len(text) && text[j] != ' ' {
			j++
		}
		ids = append(ids, 100+j-i)
		i = j
	}
	return ids, nil
}

func (w wordTok) Prefix(context.Context) ([]int, error) {
	if w.bos {
		return []int{1}, nil
	}
	return nil, nil
}

func (w wordTok) Source() string { return "words" }

func TestMoveTrailingSpaceIsPythonRstrip(t *testing.T) {
	for _, tc := range [][4]string{
		{"Answer: ", "Paris", "Answer:", " Paris"},
		{"Answer:\n\n", "Paris", "Answer:", "\n\nParis"},
		{"A:\x1c", "x", "A:", "\x1cx"},     // Python's isspace counts U+001C..U+001F
		{"A:\u00a0", "x", "A:", "\u00a0x"}, // and NBSP
		{"A:\u200b", "x", "A:\u200b", "x"}, // but not the zero-width space
		{"A:", " Paris", "A:", " Paris"},
	} {
		c, t2 := MoveTrailingSpace(tc[0], tc[1])
		if c != tc[2] || t2 != tc[3] {
			t.Errorf("MoveTrailingSpace(%q, %q) = %q, %q", tc[0], tc[1], c, t2)
		}
	}
}

func TestEncodePair(t *testing.T) {
	ctx := context.Background()
	bos := wordTok{bos: true}
	for _, tc := range []struct {
		tok            Tokenizer
		prompt, target string
		ids            []int
		ctxLen         int
		merged         bool
	}{
		{bos, "Q: who? A:", " Neil Armstrong", []int{1, 102, 105, 103, 105, 110}, 4, false},
		{bos, "Q: who? A: ", "Neil", []int{1, 102, 105, 103, 105}, 4, false}, // the space moves to the target
		{bos, "<s>Q: A:", " yes", []int{1, 102, 103, 104}, 3, false},         // BOS in the text is not doubled
		{wordTok{}, "Q: A:", " yes", []int{102, 103, 104}, 2, false},         // no BOS at all
		{bos, "Q: the", "ir book", []int{1, 102, 106, 105}, 2, true},         // merge: " their" counts for the target
		{bos, "", "Paris", []int{1, 105}, 1, false},                          // empty prompt: conditioned on BOS
	} {
		p, err := EncodePair(ctx, tc.tok, tc.prompt, tc.target)
		if err != nil {
			t.Fatalf("%q+%q: %v", tc.prompt, tc.target, err)
		}
		if !slices.Equal(p.IDs, tc.ids) || p.ContextLen != tc.ctxLen || p.Merged != tc.merged {
			t.Errorf("%q+%q: %+v, want ids %v ctx %d merged %v", tc.prompt, tc.target, p, tc.ids, tc.ctxLen, tc.merged)
		}
	}
	if _, err := EncodePair(ctx, wordTok{}, "", "Paris"); err == nil {
		t.Error("empty prompt without BOS accepted")
	}
	if _, err := EncodePair(ctx, bos, "Q: the", ""); !errors.Is(err, ErrEmptyTarget) {
		t.Errorf("a target that adds no token: %v", err)
	}
}

// TestEncodeSeparate: cal_gen_probs' layout, enc(prompt) + enc(target) with no special tokens
// added and nothing moved across the boundary; EncodeRequest picks it by the request's layout.
func TestEncodeSeparate(t *testing.T) {
	ctx := context.Background()
	bos := wordTok{bos: true}
	for _, tc := range []struct {
		prompt, target string
		ids            []int
		ctxLen         int
	}{
		{"Q: who? A:", " Neil Armstrong", []int{102, 105, 103, 105, 110}, 3}, // no BOS added
		{"<s>Q: who? A:", "Neil", []int{1, 102, 105, 103, 104}, 4},           // the prompt's own BOS only
		{"Q: who? A: ", "Neil", []int{102, 105, 103, 101, 104}, 4},           // the trailing space stays in the prompt
		{"Q: whose? A: the", "ir", []int{102, 107, 103, 104, 102}, 4},        // no merge: "ir" is encoded alone
		{"Question: where?", "Paris", []int{109, 107, 105}, 2},               // nothing put between prompt and answer
		{"A:", "  x  ", []int{102, 103, 102}, 1},                             // the answer exactly as given
		{"<s>A:", "<s>x", []int{1, 102, 1, 101}, 2},                          // special text in the answer is the answer's
		{"<s>", "x", []int{1, 101}, 1},                                       // a prompt that is only BOS
		{"A:", "Zürich", []int{102, 100 + len("Zürich")}, 1},                 // multi-byte
		{"<s>Q: A:", " yes", []int{1, 102, 103, 104}, 3},                     // lm-eval gives the same here, but not for
		{"Q: A:", " yes", []int{102, 103, 104}, 2},                           // a prompt without BOS (it adds one)
	} {
		p, err := EncodeRequest(ctx, bos, Request{Prompt: tc.prompt, Target: tc.target, Layout: LayoutSeparate})
		if err != nil {
			t.Fatalf("%q + %q: %v", tc.prompt, tc.target, err)
		}
		if !slices.Equal(p.IDs, tc.ids) || p.ContextLen != tc.ctxLen || p.Merged {
			t.Errorf("%q + %q: %v ctx %d merged %v; want %v ctx %d", tc.prompt, tc.target, p.IDs, p.ContextLen, p.Merged, tc.ids, tc.ctxLen)
		}
	}
	if _, err := EncodeSeparate(ctx, bos, "", "Paris"); !errors.Is(err, ErrEmptyPrompt) {
		t.Errorf("empty prompt: %v, want ErrEmptyPrompt", err)
	}
	if _, err := EncodeSeparate(ctx, bos, "Q:", ""); !errors.Is(err, ErrEmptyTarget) {
		t.Errorf("empty target: %v, want ErrEmptyTarget", err)
	}
	if _, err := EncodeRequest(ctx, bos, Request{Prompt: "a", Target: "b", Layout: "joint?"}); err == nil {
		t.Error("unknown layout accepted")
	}
	for _, name := range []string{"", "lm-eval", "separate"} {
		l, err := ParseLayout(name)
		if err != nil || (name != "" && l.String() != name) {
			t.Errorf("ParseLayout(%q) = %q, %v", name, l, err)
		}
	}
	if _, err := ParseLayout("joint"); err == nil {
		t.Error("ParseLayout accepted an unknown name")
	}
}
