package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Message is one chat message.
type Message struct {
	Role    string
	Content string
}

// Generator produces one completion for a chat. Implementations are safe for concurrent use.
type Generator interface {
	Generate(ctx context.Context, msgs []Message) (string, error)
}

// Retriever finds passages for a query (Iter-RetGen retrieves again with the previous
// generation appended). retrieval.Retriever satisfies it.
type Retriever interface {
	Search(ctx context.Context, question string, k int) ([]schemas.Passage, error)
}

// ChatConfig configures the OpenAI-compatible chat generator.
type ChatConfig struct {
	BaseURL     string // e.g. http://127.0.0.1:8000/v1
	APIKey      string
	Model       string
	MaxTokens   int     // default 32, FlashRAG's default generation length
	Temperature float64 // 0: greedy, sent as an explicit 0 (TGI and vLLM treat only 0 as greedy)
	Retries     int     // retries of transient errors (429, 5xx, network); default 3
	Backoff     time.Duration
	HTTPClient  *http.Client
}

// Chat is a Generator over /v1/chat/completions through go-openai.
type Chat struct {
	cfg    ChatConfig
	client *openai.Client
}

// NewChat validates cfg and returns the generator.
func NewChat(cfg ChatConfig) (*Chat, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("rag: chat generator needs a base URL and a model")
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 32
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	hc := http.DefaultClient
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	// go-openai omits a zero temperature (omitempty), and the server's default is 1. The
	// request carries greedySentinel instead, which the transport rewrites to an explicit 0:
	// a tiny positive temperature is not greedy on TGI, which samples with it and divides the
	// logits by it in half precision (router/src/lib.rs: only temperature == 0 maps to
	// do_sample=false).
	wrapped := *hc
	base := wrapped.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped.Transport = greedyTransport{base}
	oc.HTTPClient = &wrapped
	return &Chat{cfg: cfg, client: openai.NewClientWithConfig(oc)}, nil
}

// greedySentinel marks a greedy request for greedyTransport; no caller asks for this
// temperature on purpose.
const greedySentinel = math.SmallestNonzeroFloat32

// greedyTransport replaces the sentinel temperature of a chat request with 0.
type greedyTransport struct{ base http.RoundTripper }

func (g greedyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Method != http.MethodPost {
		return g.base.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) == nil {
		var t float32
		if raw, ok := m["temperature"]; ok && json.Unmarshal(raw, &t) == nil && t == greedySentinel {
			m["temperature"] = json.RawMessage("0")
			if nb, err := json.Marshal(m); err == nil {
				b = nb
			}
		}
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.ContentLength = int64(len(b))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return g.base.RoundTrip(r2)
}

// Generate sends one chat completion request and returns the first choice's content.
func (c *Chat) Generate(ctx context.Context, msgs []Message) (string, error) {
	//lint:ignore SA1019 OpenAI-compatible servers (vLLM, TGI, Ollama) read max_tokens; not all read max_completion_tokens.
	req := openai.ChatCompletionRequest{Model: c.cfg.Model, MaxTokens: c.cfg.MaxTokens, Temperature: float32(c.cfg.Temperature)}
	if req.Temperature == 0 {
		req.Temperature = greedySentinel
	}
	for _, m := range msgs {
		req.Messages = append(req.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	var lastErr error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(c.cfg.Backoff << (attempt - 1)):
			}
		}
		resp, err := c.client.CreateChatCompletion(ctx, req)
		if err == nil {
			if len(resp.Choices) == 0 {
				return "", errors.New("rag: chat completion has no choices")
			}
			return resp.Choices[0].Message.Content, nil
		}
		lastErr = err
		if ctx.Err() != nil || !transient(err) {
			break
		}
	}
	return "", fmt.Errorf("rag: chat completion: %w", lastErr)
}

func transient(err error) bool {
	var ae *openai.APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatusCode == http.StatusTooManyRequests || ae.HTTPStatusCode >= 500
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return re.HTTPStatusCode == http.StatusTooManyRequests || re.HTTPStatusCode >= 500
	}
	return true // network errors
}

// Input is one question with its retrieved passages, best first.
type Input struct {
	Question string
	Docs     []schemas.Passage
}

// Result is a pipeline's answer with what led to it.
type Result struct {
	Pred string
	// Steps are the intermediate generations (per passage for REPLUG, per iteration for
	// Iter-RetGen, candidates for SuRe), for auditing.
	Steps []string
}

// Method is one RAG pipeline.
type Method interface {
	Name() string
	Answer(ctx context.Context, in Input) (Result, error)
}

// Naive puts the top-k passages in one prompt (FlashRAG's SequentialPipeline).
type Naive struct{ Gen Generator }

// Name returns "naive".
func (Naive) Name() string { return "naive" }

// Answer generates once from all passages.
func (m Naive) Answer(ctx context.Context, in Input) (Result, error) {
	out, err := m.Gen.Generate(ctx, qaMessages(in.Question, FormatReference(in.Docs)))
	if err != nil {
		return Result{}, err
	}
	return Result{Pred: out}, nil
}

// REPLUG generates one answer per passage and ensembles them by retriever weight. FlashRAG
// mixes next-token distributions with weights score/sum(scores); a chat API returns text, so
// the ensemble is over answers: each passage's answer gets its passage's weight, answers that
// normalize alike pool their weights, and the heaviest wins (ties: the better-ranked passage).
// Weights are score/sum(scores) when all scores are positive, else softmax(scores).
type REPLUG struct{ Gen Generator }

// Name returns "replug".
func (REPLUG) Name() string { return "replug" }

// Answer generates per passage and returns the weighted vote.
func (m REPLUG) Answer(ctx context.Context, in Input) (Result, error) {
	if len(in.Docs) == 0 {
		return Naive(m).Answer(ctx, in)
	}
	outs := make([]string, len(in.Docs))
	for i, d := range in.Docs {
		out, err := m.Gen.Generate(ctx, qaMessages(in.Question, FormatSingle(d)))
		if err != nil {
			return Result{}, fmt.Errorf("passage %d: %w", i+1, err)
		}
		outs[i] = out
	}
	scores := make([]float64, len(in.Docs))
	for i, d := range in.Docs {
		scores[i] = d.Score
	}
	return Result{Pred: outs[Ensemble(outs, DocWeights(scores))], Steps: outs}, nil
}

// DocWeights turns retriever scores into ensemble weights: score/sum when all scores are
// positive and finite (FlashRAG's REPLUGLogitsProcessor), otherwise a softmax.
func DocWeights(scores []float64) []float64 {
	w := make([]float64, len(scores))
	sum, positive := 0.0, true
	for _, s := range scores {
		if !(s > 0) || math.IsInf(s, 0) {
			positive = false
		}
		sum += s
	}
	if positive && sum > 0 && !math.IsInf(sum, 0) {
		for i, s := range scores {
			w[i] = s / sum
		}
		return w
	}
	hi := math.Inf(-1)
	for _, s := range scores {
		if !math.IsNaN(s) {
			hi = max(hi, s)
		}
	}
	total := 0.0
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(hi, 0) {
			w[i] = 0
		} else {
			w[i] = math.Exp(s - hi)
		}
		total += w[i]
	}
	for i := range w {
		if total > 0 {
			w[i] /= total
		} else {
			w[i] = 1 / float64(len(w))
		}
	}
	return w
}

// Ensemble returns the index of the answer whose normalized form has the largest total weight;
// among the answers of that form, the first one.
func Ensemble(answers []string, weights []float64) int {
	total := map[string]float64{}
	first := map[string]int{}
	for i, a := range answers {
		n := textnorm.Normalize(a)
		if _, ok := first[n]; !ok {
			first[n] = i
		}
		total[n] += weights[i]
	}
	best := 0
	bestW := math.Inf(-1)
	for i, a := range answers {
		n := textnorm.Normalize(a)
		if first[n] == i && total[n] > bestW {
			best, bestW = i, total[n]
		}
	}
	return best
}

// IterRetGen alternates retrieval and generation (FlashRAG's IterativePipeline, 3
// iterations): iteration 0 uses the given passages; iteration i > 0 retrieves K passages for
// "{question} {previous generation}" and generates again; the last generation is the answer.
type IterRetGen struct {
	Gen        Generator
	Retriever  Retriever
	Iterations int // default 3
	K          int // passages per retrieval; default len(in.Docs)
}

// Name returns "iter-retgen".
func (IterRetGen) Name() string { return "iter-retgen" }

// Answer runs the iterations.
func (m IterRetGen) Answer(ctx context.Context, in Input) (Result, error) {
	if m.Retriever == nil {
		return Result{}, errors.New("rag: iter-retgen needs a retriever")
	}
	iters := m.Iterations
	if iters <= 0 {
		iters = 3
	}
	k := m.K
	if k <= 0 {
		k = max(len(in.Docs), 1)
	}
	docs := in.Docs
	var res Result
	for it := range iters {
		if it > 0 {
			var err error
			if docs, err = m.Retriever.Search(ctx, in.Question+" "+res.Pred, k); err != nil {
				return Result{}, fmt.Errorf("iteration %d: retrieve: %w", it, err)
			}
		}
		out, err := m.Gen.Generate(ctx, qaMessages(in.Question, FormatReference(docs)))
		if err != nil {
			return Result{}, fmt.Errorf("iteration %d: %w", it, err)
		}
		res.Pred = out
		res.Steps = append(res.Steps, out)
	}
	return res, nil
}

// SuRe summarizes retrieved passages for answer candidates and picks the best-supported one
// (Kim et al. 2024, as FlashRAG's SuRePipeline): two candidates, one summary per candidate,
// a True/False validation per summary, pairwise ranking of summaries; the candidate with the
// largest validation + ranking score wins (ties: the first).
type SuRe struct{ Gen Generator }

// Name returns "sure".
func (SuRe) Name() string { return "sure" }

// Answer runs the four SuRe steps. No parsable candidate gives an empty prediction.
func (m SuRe) Answer(ctx context.Context, in Input) (Result, error) {
	ref := FormatSuRe(in.Docs)
	out, err := m.Gen.Generate(ctx, userOnly(SuReCandidates, map[string]string{
		"N": fmt.Sprint(len(in.Docs)), "reference": ref, "question": in.Question}))
	if err != nil {
		return Result{}, fmt.Errorf("candidates: %w", err)
	}
	cands := ParseCandidates(out)
	if len(cands) == 0 {
		return Result{Pred: ""}, nil
	}
	summaries := make([]string, len(cands))
	for i, c := range cands {
		if summaries[i], err = m.Gen.Generate(ctx, userOnly(SuReSummary, map[string]string{
			"reference": ref, "question": in.Question, "pred": c})); err != nil {
			return Result{}, fmt.Errorf("summary %d: %w", i+1, err)
		}
	}
	total := make([]float64, len(cands))
	for i, c := range cands {
		v, err := m.Gen.Generate(ctx, userOnly(SuReValidate, map[string]string{
			"question": in.Question, "pred": c, "summary": summaries[i]}))
		if err != nil {
			return Result{}, fmt.Errorf("validation %d: %w", i+1, err)
		}
		total[i] += ParseValidation(v)
	}
	for i := range cands { // itertools.permutations order
		for j := range cands {
			if i == j {
				continue
			}
			r, err := m.Gen.Generate(ctx, userOnly(SuReRank, map[string]string{
				"question": in.Question, "summary1": summaries[i], "summary2": summaries[j]}))
			if err != nil {
				return Result{}, fmt.Errorf("ranking %d/%d: %w", i+1, j+1, err)
			}
			total[i] += ParseRanking(r)
		}
	}
	best := 0
	for i := range total {
		if total[i] > total[best] {
			best = i
		}
	}
	return Result{Pred: cands[best], Steps: cands}, nil
}

// candidateRE is FlashRAG's r"\((\w+)\)\s*([^()]+)" with Python's Unicode \w and \s.
var candidateRE = regexp.MustCompile(`\(([\p{L}\p{N}_]+)\)[\t\n\v\f\r \x{85}\p{Zs}\x{1c}-\x{1f}\x{2028}\x{2029}]*([^()]+)`)

func pyStrip(s string) string { return strings.TrimFunc(s, textnorm.IsSpace) }

// ParseCandidates extracts "(a) xx, (b) yy" candidates: the text after each "(label)" up to
// the next parenthesis, its first line, stripped, commas removed.
func ParseCandidates(resp string) []string {
	resp = pyStrip(strings.Trim(resp, "\n"))
	var out []string
	for _, m := range candidateRE.FindAllStringSubmatch(resp, -1) {
		c, _, _ := strings.Cut(m[2], "\n")
		c = pyStrip(strings.ReplaceAll(pyStrip(c), ",", ""))
		out = append(out, c)
	}
	return out
}

// ParseValidation is 1 when the lower-cased response contains "true", else 0.
func ParseValidation(resp string) float64 {
	if strings.Contains(textnorm.Lower(pyStrip(resp)), "true") {
		return 1
	}
	return 0
}

// ParseRanking is 1 for "passage 1", 0 for "passage 2", 0.5 otherwise.
func ParseRanking(resp string) float64 {
	r := textnorm.Lower(pyStrip(resp))
	switch {
	case strings.Contains(r, "passage 1"):
		return 1
	case strings.Contains(r, "passage 2"):
		return 0
	}
	return 0.5
}
