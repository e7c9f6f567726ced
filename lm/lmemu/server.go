package lmemu

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
)

// Server kinds.
const (
	VLLM = "vllm" // vLLM V1 (0.8+) OpenAI server
	// VLLM06 is vLLM 0.6 (V0): its error shape and context-length wording. Its decoded
	// prompt tokens are emulated as V1 makes them (one token at a time); V0 decoded them
	// incrementally (transformers_utils/detokenizer.py decode_prompt_logprobs_inplace), which
	// lsrflow never reads.
	VLLM06 = "vllm06"
	TGI2   = "tgi2" // text-generation-inference 2.x
	TGI3   = "tgi3" // text-generation-inference 3.x
	SGLang = "sglang"
)

// Options configure an emulated server.
type Options struct {
	Kind      string
	Tokenizer *Tokenizer
	// Model is the served model name (vLLM checks it).
	Model string
	// MaxModelLen is the context window (default 8192).
	MaxModelLen int
	// StalePrefixCache (vLLM): prompt log-probabilities of positions served from the prefix
	// cache come from the output buffer of an earlier request (vllm issue 42019).
	StalePrefixCache bool
	// PrefillLogprobs (TGI 3): the launcher was given --enable-prefill-logprobs.
	PrefillLogprobs bool
	// TokenizerInfo (vLLM): serve GET /tokenizer_info (--enable-tokenizer-info-endpoint).
	TokenizerInfo bool
	// DeclaredBOS is the bos_token of tokenizer_config.json reported by /tokenizer_info,
	// even when the tokenizer does not add it (default: the tokenizer's BOS text).
	DeclaredBOS string
}

// Server is an emulated LM server.
type Server struct {
	o     Options
	model Model
	mu    sync.Mutex // one engine step at a time
	cache *prefixCache
	calls atomic.Int64
}

// New returns an emulated server.
func New(o Options) (*Server, error) {
	switch o.Kind {
	case VLLM, VLLM06, TGI2, TGI3, SGLang:
	default:
		return nil, fmt.Errorf("lmemu: unknown kind %q (want vllm, vllm06, tgi2, tgi3, sglang)", o.Kind)
	}
	if o.Tokenizer == nil {
		return nil, fmt.Errorf("lmemu: a tokenizer is required")
	}
	if o.MaxModelLen <= 0 {
		o.MaxModelLen = 8192
	}
	if o.Model == "" {
		o.Model = "meta-llama/Meta-Llama-3-8B-Instruct"
	}
	if o.DeclaredBOS == "" {
		o.DeclaredBOS = o.Tokenizer.BOSText()
	}
	s := &Server{o: o, model: Model{V: o.Tokenizer.VocabSize()}}
	if o.StalePrefixCache {
		s.cache = newPrefixCache()
	}
	return s, nil
}

// Calls counts the scoring requests served.
func (s *Server) Calls() int64 { return s.calls.Load() }

// ServeHTTP routes by kind.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/health" {
		w.WriteHeader(http.StatusOK)
		return
	}
	switch s.o.Kind {
	case VLLM, VLLM06:
		s.vllm(w, r, body)
	case TGI2, TGI3:
		s.tgi(w, r, body)
	case SGLang:
		s.sglang(w, r, body)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // Python's json and serde_json write '<' and '>' as they are
	_ = enc.Encode(v)
}

// logprobs computes the prompt's log-probabilities (float32-rounded, index 0 NaN) and the
// next-token distribution, applying the stale prefix cache when on. Callers hold s.mu.
func (s *Server) logprobs(ids []int) ([]float64, []Dist) {
	dists := s.model.Dists(ids)
	lps := make([]float64, len(ids))
	lps[0] = math.NaN()
	for j := 1; j < len(ids); j++ {
		lps[j] = F32(dists[j].Logprob(ids[j]))
	}
	if s.cache != nil {
		s.cache.apply(ids, lps)
	}
	return lps, dists
}

// badIDs is the message rejecting token ids outside the vocabulary, as vLLM's input
// processor does ("" when the ids are fine).
func (s *Server) badIDs(ids []int) string {
	for _, id := range ids {
		if id < 0 || id >= s.model.V {
			return fmt.Sprintf("Token id %d is out of vocabulary", id)
		}
	}
	if len(ids) == 0 {
		return "Prompt cannot be empty"
	}
	return ""
}
