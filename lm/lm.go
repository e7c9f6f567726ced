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
	// Layout selects how Prompt and Target become token ids: lm-evaluation-harness' rule (the
	// zero value, EncodePair) or FlashRAG's cal_gen_probs (LayoutSeparate, EncodeSeparate).
	Layout Layout
}

// Text is the string that is tokenized: Prompt followed by Target.
func (r Request) Text() string { return r.Prompt + r.Target }

// Result is the scoring of one Request.
type Result struct {
	// TokenLogprobs holds log P(token | everything before it) for each target token, in order.
	TokenLogprobs []float64
	// Tokens is the number of tokens of the whole text (prompt and target).
	Tokens int
	// TargetIDs are the target's token ids, when the backend reports them.
	TargetIDs []int
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
	// Tokenizer names where token ids come from ("tokenizer.json@sha256:…",
	// "server:/tokenize", "gguf"); teacher identities record it.
	Tokenizer string
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
