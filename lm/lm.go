package lm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Request asks for log P(Target | Prompt).
type Request struct {
	Prompt string
	Target string
}

// Text is the string that is tokenized: Prompt followed by Target.
func (r Request) Text() string { return r.Prompt + r.Target }

// Result is the scoring of one Request.
type Result struct {
	// TokenLogprobs holds log P(token | everything before it) for each target token, in order.
	TokenLogprobs []float64
	// Tokens is the number of tokens of the whole text (prompt and target).
	Tokens int
}

// Sum is log P(Target | Prompt), the sum of the target tokens' log-probabilities.
func (r Result) Sum() float64 {
	s := 0.0
	for _, l := range r.TokenLogprobs {
		s += l
	}
	return s
}

// Info names a model for teacher identities and caches.
type Info struct {
	Backend string // "gguf", "vllm", "vllm-prompt-logprobs", "tgi", "sglang", ...
	Model   string
	// Precision is the numeric precision the scores were computed in ("f16-cpu", "server").
	Precision string
	// ContextSize is the model's context window in tokens, 0 when unknown.
	ContextSize int
}

// Scorer computes log-likelihoods of given text.
type Scorer interface {
	// Score returns one Result per request, in order. It blocks until all are scored.
	Score(ctx context.Context, reqs []Request) ([]Result, error)
	Info() Info
	Close() error
}

// Generator writes text (greedy decoding).
type Generator interface {
	// Generate continues prompt with at most maxTokens tokens and returns the continuation,
	// cut at the first occurrence of any stop string.
	Generate(ctx context.Context, prompt string, maxTokens int, stop []string) (string, error)
}

// Counters are cumulative work counters a backend may expose (see Counted).
type Counters struct {
	Calls     int64 // model calls (HTTP requests or llama_decode calls)
	Requests  int64 // scored requests
	Tokens    int64 // tokens processed by the model (for GGUF: decoded tokens)
	Outputs   int64 // positions whose full-vocabulary logits were computed
	Retries   int64
	Truncated int64
}

// Counted is implemented by backends that count their work.
type Counted interface {
	Counters() Counters
}

// OverflowError reports that a request does not fit the model's context window.
type OverflowError struct {
	Index  int // which request
	Tokens int // its length in tokens (0 if unknown)
	Limit  int // the context window (0 if unknown)
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("lm: request %d has %d tokens, context window is %d", e.Index, e.Tokens, e.Limit)
}

// AsOverflow returns the *OverflowError in err's chain, if any.
func AsOverflow(err error) (*OverflowError, bool) {
	var oe *OverflowError
	ok := errors.As(err, &oe)
	return oe, ok
}

// FirstTargetToken returns the index of the first token that covers a byte at or after
// targetStart, given each token's byte start offset in the text (as servers that report
// offsets give them). Zero-width tokens (BOS) never qualify. It returns len(starts) when no
// token does.
func FirstTargetToken(starts []int, textLen, targetStart int) int {
	for i := range starts {
		end := textLen
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if end > targetStart && end > starts[i] {
			return i
		}
	}
	return len(starts)
}

// FirstTargetFromEnd locates the first target token from the tokens' text pieces (exact bytes),
// aligning them to text from its end: the last piece ends at len(text). Only the pieces from
// the end down to the one covering targetStart need to be exact; special tokens and
// tokenizer-added spaces earlier in the prompt do not matter. ok is false when the pieces do
// not match the text's bytes.
func FirstTargetFromEnd(pieces []string, text string, targetStart int) (first int, ok bool) {
	if targetStart >= len(text) {
		return len(pieces), false
	}
	pos := len(text)
	for i := len(pieces) - 1; i >= 0; i-- {
		p := pieces[i]
		if p == "" {
			continue
		}
		if len(p) > pos || text[pos-len(p):pos] != p {
			// SentencePiece's space prefix on the very first piece of the text.
			if i <= 1 && p[0] == ' ' && len(p)-1 == pos && text[:pos] == p[1:] {
				return i, true
			}
			return i, false
		}
		pos -= len(p)
		if pos <= targetStart {
			return i, true
		}
	}
	return 0, false
}

// RuneOffsetsToBytes converts character (code point) offsets in text, as Python servers report
// them, to byte offsets. Offsets beyond the text map to len(text).
func RuneOffsetsToBytes(text string, offs []int) []int {
	out := make([]int, len(offs))
	// positions of each rune start
	starts := make([]int, 0, len(text)+1)
	for i := range text {
		starts = append(starts, i)
	}
	starts = append(starts, len(text))
	for i, o := range offs {
		switch {
		case o < 0:
			out[i] = 0
		case o >= len(starts):
			out[i] = len(text)
		default:
			out[i] = starts[o]
		}
	}
	return out
}

// ValidUTF8 reports whether every request is valid UTF-8 (servers reject invalid text).
func ValidUTF8(reqs []Request) bool {
	for _, r := range reqs {
		if !utf8.ValidString(r.Prompt) || !utf8.ValidString(r.Target) {
			return false
		}
	}
	return true
}

// LogSoftmaxAt returns log softmax(logits)[tok] computed in float64.
func LogSoftmaxAt(logits []float32, tok int) float64 {
	maxv := math.Inf(-1)
	for _, l := range logits {
		if float64(l) > maxv {
			maxv = float64(l)
		}
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - maxv)
	}
	return float64(logits[tok]) - maxv - math.Log(sum)
}
