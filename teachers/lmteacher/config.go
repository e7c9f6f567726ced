package lmteacher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/lm"
)

// Methods.
const (
	MethodLSR    = "lsr"
	MethodSeed   = "seed"
	MethodUPR    = "upr"
	MethodGenLSR = "gen-lsr"
)

// Score transforms (what goes into the softmax).
const (
	TransformLogprob = "logprob"
	TransformProb    = "prob"
	TransformMeanTok = "mean-token-prob"
)

// Answer combination.
const (
	CombineMax       = "max"
	CombineLogSumExp = "logsumexp"
)

// Config configures an LM teacher. The zero value plus Method and LM is usable after
// Defaults.
type Config struct {
	Method string // lsr (default) | seed | upr | gen-lsr
	// LM is "http://host:port/v1" (or any http(s) URL of the server) or "gguf:PATH".
	LM string
	// Model is the model name sent to HTTP servers (and used in the identity).
	Model string
	// Backend is the HTTP server kind: vllm (default; /v1/completions echo+logprobs),
	// vllm-prompt-logprobs, tgi, sglang.
	Backend string
	// Tokenizer is the model's tokenizer.json for HTTP backends; empty means the server's own
	// /tokenize endpoint. Either way the identity names the source.
	Tokenizer string
	// Beta is the softmax temperature. 0 means the transform's default: 1 for logprob
	// (the LM posterior), 0.1 for prob (REPLUG), 1 for mean-token-prob (plain softmax).
	Beta           float64
	ScoreTransform string // logprob (default) | prob | mean-token-prob
	Combine        string // max (default) | logsumexp
	// LengthNormalize uses the mean token log-probability instead of the sum.
	LengthNormalize bool
	// PromptFile is a user template (see teachers/prompt.Load); empty = FlashRAG's QA prompt.
	PromptFile string
	// Chat is the chat template: plain (default), llama3, chatml, inst.
	Chat string
	// Concurrency bounds in-flight HTTP requests (default 8).
	Concurrency int
	// Timeout bounds one HTTP request (default 60s).
	Timeout time.Duration
	// Retries is how often the HTTP client retries a failed request itself (default 3)
	// before returning a retriable error to the stage runner.
	Retries int
	// CachePath is the durable score cache file; empty = an in-memory cache.
	CachePath string
	// NoCache disables the score cache.
	NoCache bool
	// ContextSize is the GGUF context window per sequence in tokens (default 2048).
	ContextSize int
	// Threads for GGUF decoding (default: number of CPUs).
	Threads int
	// LibDir holds libllama for gguf: (default $LSRFLOW_CACHE/llama/lib or .cache/llama/lib).
	LibDir string
	// MaxAnswerTokens bounds generation in gen-lsr (default 32).
	MaxAnswerTokens int
	// Precision overrides the precision recorded in the identity (HTTP servers: "server").
	Precision string

	// Scorer and Generator, when set, are used instead of opening LM (tests, embedding).
	// The teacher does not close them.
	Scorer    lm.Scorer
	Generator lm.Generator
	// LocalTokenizer, when set, is used instead of loading Tokenizer (a caller that already
	// parsed the file).
	LocalTokenizer lm.Tokenizer
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	if c.Method == "" {
		c.Method = MethodLSR
	}
	if c.Backend == "" {
		c.Backend = "vllm"
	}
	if c.ScoreTransform == "" {
		c.ScoreTransform = TransformLogprob
		if c.Method == MethodSeed {
			c.ScoreTransform = TransformMeanTok
		}
	}
	if c.Combine == "" {
		c.Combine = CombineMax
	}
	if c.Beta == 0 {
		c.Beta = 1
		if c.ScoreTransform == TransformProb {
			c.Beta = 0.1
		}
	}
	if c.Chat == "" {
		c.Chat = "plain"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.ContextSize <= 0 {
		c.ContextSize = 2048
	}
	if c.MaxAnswerTokens <= 0 {
		c.MaxAnswerTokens = 32
	}
	if c.LibDir == "" {
		cache := os.Getenv("LSRFLOW_CACHE")
		if cache == "" {
			cache = ".cache"
		}
		c.LibDir = filepath.Join(cache, "llama", "lib")
	}
	return c
}

// Validate checks the configuration (after Defaults).
func (c Config) Validate() error {
	var errs []error
	switch c.Method {
	case MethodLSR, MethodSeed, MethodUPR, MethodGenLSR:
	default:
		errs = append(errs, fmt.Errorf("method %q: want lsr, seed, upr or gen-lsr", c.Method))
	}
	if c.Scorer == nil {
		switch {
		case strings.HasPrefix(c.LM, "gguf:"):
			if strings.TrimPrefix(c.LM, "gguf:") == "" {
				errs = append(errs, errors.New("lm gguf: needs a path"))
			}
		case strings.HasPrefix(c.LM, "http://"), strings.HasPrefix(c.LM, "https://"):
		default:
			errs = append(errs, fmt.Errorf("lm %q: want http://host:port/v1 or gguf:PATH", c.LM))
		}
	}
	switch c.Backend {
	case "vllm", "vllm-prompt-logprobs", "tgi", "sglang":
	default:
		errs = append(errs, fmt.Errorf("backend %q: want vllm, vllm-prompt-logprobs, tgi or sglang", c.Backend))
	}
	switch c.ScoreTransform {
	case TransformLogprob, TransformProb, TransformMeanTok:
	default:
		errs = append(errs, fmt.Errorf("score transform %q: want logprob, prob or mean-token-prob", c.ScoreTransform))
	}
	switch c.Combine {
	case CombineMax, CombineLogSumExp:
	default:
		errs = append(errs, fmt.Errorf("combine %q: want max or logsumexp", c.Combine))
	}
	if !(c.Beta > 0) || c.Beta > 1e6 {
		errs = append(errs, fmt.Errorf("beta %v must be positive", c.Beta))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries %d must be >= 0", c.Retries))
	}
	if c.Method == MethodGenLSR && c.Generator == nil && c.Scorer != nil {
		if _, ok := c.Scorer.(lm.Generator); !ok {
			errs = append(errs, errors.New("gen-lsr needs a Generator"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lmteacher: %w", err)
	}
	return nil
}
