package lm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Tokenizer turns text into a model's token ids. Implementations: lm/httplm (a server's
// /tokenize endpoint), LocalTokenizer (a tokenizer.json file), lm/gguf (the model's own
// vocabulary). A Tokenizer is safe for concurrent use.
type Tokenizer interface {
	// Encode returns the ids of text with no special tokens added. Special-token strings
	// written in the text (chat-template markers such as "<|begin_of_text|>") become their
	// ids, as Hugging Face tokenizers and the servers do by default.
	Encode(ctx context.Context, text string) ([]int, error)
	// Prefix returns the ids the tokenizer puts before every text when it adds special tokens
	// (BOS for Llama, nothing for Qwen).
	Prefix(ctx context.Context) ([]int, error)
	// Source names the tokenizer for teacher identities, e.g. "tokenizer.json@sha256:…" or
	// "server:/tokenize".
	Source() string
}

// Pair is one (prompt, target) request tokenized as lm-evaluation-harness' loglikelihood
// tokenizes a (context, continuation) pair.
type Pair struct {
	// IDs is the whole sequence the model scores: the special prefix (BOS) when the prompt
	// does not already start with it, then the prompt and the target.
	IDs []int
	// ContextLen is the number of leading ids that belong to the context: the target's
	// log-likelihood is the sum over IDs[ContextLen:].
	ContextLen int
	// Merged reports that the context's own tokenization is not a prefix of the whole one
	// (a merge across the boundary). lm-evaluation-harness splits by count there; we split
	// at the first differing token, so that the merged token, which carries target text,
	// counts for the target. Without a merge the two rules agree.
	Merged bool
}

// Target returns the ids of the scored continuation.
func (p Pair) Target() []int { return p.IDs[p.ContextLen:] }

// isPySpace is Python's str.isspace, which lm-evaluation-harness' rstrip uses: Go's
// unicode.IsSpace plus the separators U+001C..U+001F that Python also counts.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// MoveTrailingSpace moves the whitespace at the end of the context to the start of the
// continuation, as lm-evaluation-harness' _encode_pair does (lm_eval/api/model.py): a
// context "Answer: " with continuation "Paris" is scored as "Answer:" + " Paris", the way
// the words are tokenized in running text.
func MoveTrailingSpace(context, continuation string) (string, string) {
	trimmed := strings.TrimRightFunc(context, isPySpace)
	return trimmed, context[len(trimmed):] + continuation
}

// EncodeWithSpecial encodes text as the model sees it: the tokenizer's special prefix (BOS)
// followed by the text, unless the text already starts with that prefix (a chat template
// that writes "<|begin_of_text|>" itself), which must not be doubled. This is
// lm-evaluation-harness' has_bos_prefix rule (lm_eval/models/vllm_causallms.py tok_encode),
// decided on ids rather than on the BOS string.
func EncodeWithSpecial(ctx context.Context, tok Tokenizer, text string) ([]int, error) {
	ids, err := tok.Encode(ctx, text)
	if err != nil {
		return nil, err
	}
	pre, err := tok.Prefix(ctx)
	if err != nil {
		return nil, err
	}
	if len(pre) == 0 || HasPrefix(ids, pre) {
		return ids, nil
	}
	return append(slices.Clip(pre), ids...), nil
}

// HasPrefix reports whether ids starts with pre (false for an empty pre).
func HasPrefix(ids, pre []int) bool {
	return len(pre) > 0 && len(ids) >= len(pre) && slices.Equal(ids[:len(pre)], pre)
}

// ErrEmptyTarget reports a target that adds no token to its prompt.
var ErrEmptyTarget = errors.New("lm: the target adds no tokens to the prompt")

// EncodePair tokenizes a request the way lm-evaluation-harness' loglikelihood does for causal
// models (lm_eval/api/model.py _encode_pair): trailing whitespace of the prompt moves to the
// target; whole = enc(prompt+target); context = enc(prompt); the target's tokens are
// whole[len(context):], counted, not matched (see Pair.Merged for a merge across the
// boundary). enc adds the special prefix as
// EncodeWithSpecial does. An empty prompt is conditioned on the special prefix alone (the
// harness' prefix_token_id); a tokenizer without one cannot score it.
func EncodePair(ctx context.Context, tok Tokenizer, prompt, target string) (Pair, error) {
	c, t := MoveTrailingSpace(prompt, target)
	if c == "" {
		pre, err := tok.Prefix(ctx)
		if err != nil {
			return Pair{}, err
		}
		if len(pre) == 0 {
			return Pair{}, errors.New("lm: empty prompt and the tokenizer adds no BOS to condition on")
		}
		ids, err := tok.Encode(ctx, t)
		if err != nil {
			return Pair{}, err
		}
		if HasPrefix(ids, pre) {
			ids = ids[len(pre):]
		}
		if len(ids) == 0 {
			return Pair{}, ErrEmptyTarget
		}
		return Pair{IDs: append(slices.Clip(pre), ids...), ContextLen: len(pre)}, nil
	}
	whole, err := EncodeWithSpecial(ctx, tok, c+t)
	if err != nil {
		return Pair{}, err
	}
	cids, err := EncodeWithSpecial(ctx, tok, c)
	if err != nil {
		return Pair{}, err
	}
	n := len(cids)
	merged := n > len(whole) || !slices.Equal(whole[:n], cids)
	if merged {
		// The last context token merged with the target's first characters ("the" + "ir"
		// = "their"): the merged token carries target text, so it counts for the target.
		n = 0
		for n < len(cids) && n < len(whole) && cids[n] == whole[n] {
			n++
		}
	}
	if n >= len(whole) {
		return Pair{}, fmt.Errorf("%w (target %q)", ErrEmptyTarget, target)
	}
	return Pair{IDs: whole, ContextLen: n, Merged: merged}, nil
}

// Layout names a rule that turns a (prompt, target) request into token ids.
type Layout string

const (
	// LayoutLMEval, the zero value, is lm-evaluation-harness' rule (EncodePair).
	LayoutLMEval Layout = ""
	// LayoutSeparate is FlashRAG's cal_gen_probs (EncodeSeparate), which the seed-compatible
	// teacher reproduces.
	LayoutSeparate Layout = "separate"
)

// String is the layout's name for identities, cache keys and messages.
func (l Layout) String() string {
	if l == LayoutLMEval {
		return "lm-eval"
	}
	return string(l)
}

// ParseLayout accepts the names String gives ("" is lm-eval too).
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "", "lm-eval":
		return LayoutLMEval, nil
	case string(LayoutSeparate):
		return LayoutSeparate, nil
	}
	return "", fmt.Errorf("token layout %q: want lm-eval or separate", s)
}

// EncodeSeparate tokenizes a request as FlashRAG's HFCausalLMGenerator.cal_gen_probs does
// (flashrag/generator/generator.py, unchanged since 2024-06): the prompt and the target are
// encoded each on its own with add_special_tokens=False and their ids concatenated; the
// target's tokens are the last len(enc(target)) ids. Nothing is moved across the boundary,
// no BOS is added (a chat template that writes "<|begin_of_text|>" supplies it; a plain
// prompt is scored without one, as the experiment scored it), and the target is tokenized as
// a text of its own: with Llama-3's byte-level BPE an answer "Paris" is "Paris", not " Paris"
// (a SentencePiece tokenizer puts its own "▁" before it, as it would in Python).
func EncodeSeparate(ctx context.Context, tok Tokenizer, prompt, target string) (Pair, error) {
	cids, err := tok.Encode(ctx, prompt)
	if err != nil {
		return Pair{}, err
	}
	tids, err := tok.Encode(ctx, target)
	if err != nil {
		return Pair{}, err
	}
	if len(tids) == 0 {
		return Pair{}, fmt.Errorf("%w (target %q)", ErrEmptyTarget, target)
	}
	if len(cids) == 0 {
		// cal_gen_probs takes the first target token's logits at position len(prompt)-1.
		return Pair{}, fmt.Errorf("%w: the separate layout needs a prompt with at least one token", ErrEmptyPrompt)
	}
	ids := make([]int, 0, len(cids)+len(tids))
	return Pair{IDs: append(append(ids, cids...), tids...), ContextLen: len(cids)}, nil
}

// ErrEmptyPrompt reports a prompt without tokens where the layout needs one.
var ErrEmptyPrompt = errors.New("lm: empty prompt")

// EncodeRequest tokenizes r by its layout: EncodePair or EncodeSeparate.
func EncodeRequest(ctx context.Context, tok Tokenizer, r Request) (Pair, error) {
	switch r.Layout {
	case LayoutLMEval:
		return EncodePair(ctx, tok, r.Prompt, r.Target)
	case LayoutSeparate:
		return EncodeSeparate(ctx, tok, r.Prompt, r.Target)
	}
	return Pair{}, fmt.Errorf("lm: unknown token layout %q", string(r.Layout))
}

// EncodePairs tokenizes reqs, each by its layout (EncodeRequest). With a memoizing tokenizer
// (WithMemo) a prompt shared by several requests is encoded once.
func EncodePairs(ctx context.Context, tok Tokenizer, reqs []Request) ([]Pair, error) {
	out := make([]Pair, len(reqs))
	for i, r := range reqs {
		p, err := EncodeRequest(ctx, tok, r)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

// cachedTokenizer remembers encodings of the texts it has seen (a teacher's prompts repeat
// for every answer).
type cachedTokenizer struct {
	Tokenizer
	max  int
	memo map[string][]int
}

// WithMemo returns a tokenizer that remembers up to n encodings; it is for one goroutine (a
// single Score call), not for sharing.
func WithMemo(tok Tokenizer, n int) Tokenizer {
	return &cachedTokenizer{Tokenizer: tok, max: n, memo: map[string][]int{}}
}

func (c *cachedTokenizer) Encode(ctx context.Context, text string) ([]int, error) {
	if ids, ok := c.memo[text]; ok {
		return ids, nil
	}
	ids, err := c.Tokenizer.Encode(ctx, text)
	if err == nil && len(c.memo) < c.max {
		c.memo[text] = ids
	}
	return ids, err
}

// PrefixText forwards the wrapped tokenizer's spelling of its special prefix, if it knows it.
func (c *cachedTokenizer) PrefixText() string {
	if pt, ok := c.Tokenizer.(interface{ PrefixText() string }); ok {
		return pt.PrefixText()
	}
	return ""
}
