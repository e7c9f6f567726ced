package lmteacher

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/gguf"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/scorecache"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// Teacher is an LM teacher. It implements teachers.Teacher and io.Closer.
type Teacher struct {
	cfg      Config
	scorer   lm.Scorer
	gen      lm.Generator
	ownLM    bool
	cache    *scorecache.Cache
	tmpl     prompt.Template
	layout   lm.Layout
	id       schemas.TeacherIdentity
	modelKey string

	pairs, sent, truncated atomic.Int64
}

var (
	_ teachers.Teacher = (*Teacher)(nil)
	_ io.Closer        = (*Teacher)(nil)
)

// New opens the LM (unless cfg.Scorer is given) and the score cache. The returned teacher
// also implements io.Closer (it is a *Teacher).
func New(ctx context.Context, cfg Config) (teachers.Teacher, error) {
	t, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Open is New returning the concrete type (for Stats and Scorer).
func Open(ctx context.Context, cfg Config) (*Teacher, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, streams.Permanent("teacher-config", err)
	}
	t := &Teacher{cfg: cfg, scorer: cfg.Scorer, gen: cfg.Generator}
	if t.scorer == nil {
		switch {
		case strings.HasPrefix(cfg.LM, "gguf:"):
			m, err := gguf.Open(strings.TrimPrefix(cfg.LM, "gguf:"), gguf.Options{LibDir: cfg.LibDir, ContextSize: cfg.ContextSize, Threads: cfg.Threads})
			if err != nil {
				return nil, fmt.Errorf("lmteacher: %w", err)
			}
			t.scorer = m
		default:
			o := httplm.Options{Kind: cfg.Backend, BaseURL: cfg.LM, Model: cfg.Model, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, Retries: cfg.Retries}
			if cfg.LocalTokenizer != nil {
				o.Tokenizer = cfg.LocalTokenizer
			} else if cfg.Tokenizer != "" {
				tok, err := lm.LoadTokenizer(cfg.Tokenizer)
				if err != nil {
					return nil, streams.Permanent("teacher-config", fmt.Errorf("lmteacher: %w", err))
				}
				o.Tokenizer = tok
			}
			c, err := httplm.New(o)
			if err != nil {
				return nil, fmt.Errorf("lmteacher: %w", err)
			}
			t.scorer = c
		}
		t.ownLM = true
	}
	if t.gen == nil {
		t.gen, _ = t.scorer.(lm.Generator)
	}
	if cfg.Method == MethodGenLSR && t.gen == nil {
		t.closeLM()
		return nil, streams.Permanent("teacher-config", errors.New("lmteacher: gen-lsr: the LM backend cannot generate"))
	}
	var err error
	t.tmpl = prompt.Default(cfg.Chat)
	if cfg.Method == MethodSeed {
		t.tmpl = prompt.FlashRAG(cfg.Chat)
		// cal_gen_probs encodes the prompt and the answer separately (lm.EncodeSeparate).
		t.layout = lm.LayoutSeparate
	}
	if cfg.PromptFile != "" {
		if t.tmpl, err = prompt.Load(cfg.PromptFile, cfg.Chat); err != nil {
			t.closeLM()
			return nil, streams.Permanent("teacher-config", err)
		}
		if cfg.Method == MethodSeed && t.tmpl.Raw == "" {
			empty := ""
			t.tmpl.Exact, t.tmpl.Prefix = true, &empty
		}
	}
	if err := t.tmpl.Validate(); err != nil {
		t.closeLM()
		return nil, streams.Permanent("teacher-config", err)
	}
	if !cfg.NoCache {
		if t.cache, err = scorecache.Open(cfg.CachePath); err != nil {
			t.closeLM()
			return nil, err
		}
	}
	info := t.scorer.Info()
	model := info.Model
	if cfg.Model != "" {
		model = cfg.Model
	}
	prec := info.Precision
	if cfg.Precision != "" {
		prec = cfg.Precision
	}
	// Scores depend on the tokenizer and on how targets are aligned (lm.EncodeRequest); the
	// cache must not serve scores aligned another way.
	t.modelKey = info.Backend + ":" + model + "|tok=" + info.Tokenizer + "|align=" + t.layout.String()
	t.id = schemas.TeacherIdentity{
		Method:         cfg.Method,
		Model:          model,
		Temperature:    cfg.Beta,
		ScoreTransform: cfg.ScoreTransform,
		Combine:        cfg.Combine,
		PromptHash:     t.tmpl.Hash(),
		Precision:      prec,
		Tokenizer:      info.Tokenizer,
	}
	if t.layout != lm.LayoutLMEval {
		t.id.TokenLayout = t.layout.String()
	}
	if cfg.LengthNormalize {
		t.id.ScoreTransform += "/length-normalized"
	}
	if cfg.Method == MethodSeed || cfg.Method == MethodUPR {
		t.id.Combine = ""
	}
	return t, ctx.Err()
}

func (t *Teacher) closeLM() {
	if t.ownLM && t.scorer != nil {
		_ = t.scorer.Close()
	}
}

// Identity describes the teacher's labels.
func (t *Teacher) Identity() schemas.TeacherIdentity { return t.id }

// Stats are the teacher's counters since New.
type Stats struct {
	Pairs     int64 // (passage, target) pairs scored, from the LM or the cache
	Sent      int64 // pairs sent to the LM
	Truncated int64 // passages truncated to fit the context window
	Cache     scorecache.Stats
}

// Stats returns the counters.
func (t *Teacher) Stats() Stats {
	s := Stats{Pairs: t.pairs.Load(), Sent: t.sent.Load(), Truncated: t.truncated.Load()}
	if t.cache != nil {
		s.Cache = t.cache.Stats()
	}
	return s
}

// Scorer returns the underlying LM scorer.
func (t *Teacher) Scorer() lm.Scorer { return t.scorer }

// Close releases the LM (when the teacher opened it) and the cache.
func (t *Teacher) Close() error {
	var err error
	if t.cache != nil {
		err = t.cache.Close()
	}
	if t.ownLM {
		err = errors.Join(err, t.scorer.Close())
	}
	return err
}

// pair is one (passage, target) to score.
type pair struct {
	doc    int
	target string // without prefix
	req    lm.Request
	key    scorecache.Key
	text   string // passage text scored (maybe truncated)
	lps    []float64
}

func validUTF8(c schemas.Candidates) bool {
	if !utf8.ValidString(c.Query.Question) {
		return false
	}
	for _, a := range c.Query.GoldenAnswers {
		if !utf8.ValidString(a) {
			return false
		}
	}
	for _, d := range c.Docs {
		if !utf8.ValidString(d.Contents) {
			return false
		}
	}
	return true
}

// Teach scores a candidate set.
func (t *Teacher) Teach(ctx context.Context, c schemas.Candidates) (schemas.Scored, error) {
	if err := c.Validate(); err != nil {
		return schemas.Scored{}, err
	}
	if len(c.Docs) == 0 {
		return schemas.Scored{}, streams.Permanent("no-candidates", fmt.Errorf("lmteacher: query %s has no passages", c.Query.ID))
	}
	if !validUTF8(c) {
		return schemas.Scored{}, streams.Permanent("invalid-utf8", fmt.Errorf("lmteacher: query %s has text that is not UTF-8", c.Query.ID))
	}
	var targets []string
	switch t.cfg.Method {
	case MethodUPR:
		targets = []string{c.Query.Question}
	case MethodGenLSR:
		ans, err := t.generate(ctx, c)
		if err != nil {
			return schemas.Scored{}, err
		}
		targets = []string{ans}
	case MethodSeed:
		tg, ok := seedTarget(c.Query)
		if !ok {
			return schemas.Scored{}, streams.Permanent("no-answers", fmt.Errorf("lmteacher: query %s has no gold answers (use upr or gen-lsr for unlabeled queries)", c.Query.ID))
		}
		targets = []string{tg}
	default:
		for _, a := range c.Query.GoldenAnswers {
			if strings.TrimSpace(a) != "" {
				targets = append(targets, strings.TrimSpace(a))
			}
		}
		if len(targets) == 0 {
			return schemas.Scored{}, streams.Permanent("no-answers", fmt.Errorf("lmteacher: query %s has no gold answers (use upr or gen-lsr for unlabeled queries)", c.Query.ID))
		}
	}
	pairs := make([]*pair, 0, len(c.Docs)*len(targets))
	for i := range c.Docs {
		for _, tg := range targets {
			pairs = append(pairs, &pair{doc: i, target: tg, text: c.Docs[i].Text()})
		}
	}
	truncated := map[int]bool{}
	for attempt := 0; ; attempt++ {
		err := t.scorePairs(ctx, c, pairs)
		oe, ok := lm.AsOverflow(err)
		if !ok {
			if err != nil {
				return schemas.Scored{}, err
			}
			break
		}
		if attempt >= 6 || oe.Index < 0 || oe.Index >= len(pairs) {
			return schemas.Scored{}, streams.Permanent("context-overflow", fmt.Errorf("lmteacher: query %s: %w", c.Query.ID, err))
		}
		// Cut the overflowing passage (for every target of it) and score again.
		p := pairs[oe.Index]
		newText := shorten(p.text, oe.Tokens, oe.Limit)
		if newText == p.text {
			return schemas.Scored{}, streams.Permanent("context-overflow", fmt.Errorf("lmteacher: query %s: prompt without passage overflows: %w", c.Query.ID, err))
		}
		for _, q := range pairs {
			if q.doc == p.doc {
				q.text = newText
				q.lps = nil
			}
		}
		truncated[p.doc] = true
	}
	t.truncated.Add(int64(len(truncated)))
	raw, dist := t.combine(pairs, len(c.Docs), len(targets))
	s := teachers.Build(c, t.id, raw, dist)
	s.Truncated = len(truncated)
	return s, nil
}

// seedTarget is the one answer the seed-compatible teacher scores, exactly as given (the
// experiment scored the dataset's string as it is): the query's SeedAnswer when one was drawn
// upstream (a FlashRAG-config run draws it as the experiment's random.choice did), else one of
// the non-blank gold answers chosen by a hash of the query id.
func seedTarget(q schemas.Query) (string, bool) {
	if q.SeedAnswer != "" {
		return q.SeedAnswer, true
	}
	var answers []string
	for _, a := range q.GoldenAnswers {
		if strings.TrimSpace(a) != "" {
			answers = append(answers, a)
		}
	}
	if len(answers) == 0 {
		return "", false
	}
	h := fnv.New32a()
	h.Write([]byte(q.ID))
	return answers[int(h.Sum32())%len(answers)], true
}

// shorten cuts text so that a prompt of tokens tokens fits limit, with a margin.
func shorten(text string, tokens, limit int) string {
	n := len(text)
	cut := n / 4
	if tokens > 0 && limit > 0 && tokens > limit {
		// bytes per token of the whole prompt is unknown; assume the passage dominates.
		excess := tokens - limit + 8
		cut = max(cut/4, int(math.Ceil(float64(n)*float64(excess)/float64(tokens)*1.5))+16)
	}
	if cut >= n {
		return ""
	}
	end := n - cut
	for end > 0 && !utf8.RuneStart(text[end]) {
		end--
	}
	return text[:end]
}

func (t *Teacher) request(c schemas.Candidates, p *pair) lm.Request {
	d := c.Docs[p.doc]
	if p.text != d.Text() {
		title := d.Title()
		if title != "" || strings.Contains(d.Contents, "\n") {
			d.Contents = title + "\n" + p.text
		} else {
			d.Contents = p.text
		}
	}
	var pr string
	if t.cfg.Method == MethodUPR {
		pr = t.tmpl.UPR(d)
	} else {
		pr = t.tmpl.QA(c.Query.Question, []schemas.Passage{d})
	}
	return lm.Request{Prompt: pr, Target: t.tmpl.TargetPrefix() + p.target, Layout: t.layout}
}

// scorePairs fills p.lps for every pair without one, from the cache or the LM.
func (t *Teacher) scorePairs(ctx context.Context, c schemas.Candidates, pairs []*pair) error {
	kind := "lsr"
	if t.cfg.Method == MethodUPR {
		kind = "upr"
	}
	var miss []*pair
	var reqs []lm.Request
	for _, p := range pairs {
		if p.lps != nil {
			continue
		}
		p.req = t.request(c, p)
		p.key = scorecache.Key{Model: t.modelKey, Prompt: kind + ":" + t.tmpl.Hash(), PassageID: c.Docs[p.doc].ID, Passage: p.text, Question: c.Query.Question, Target: p.req.Target}
		if t.cache != nil {
			if v, ok := t.cache.Get(p.key); ok {
				p.lps = v
				t.pairs.Add(1)
				continue
			}
		}
		miss = append(miss, p)
		reqs = append(reqs, p.req)
	}
	if len(reqs) == 0 {
		return nil
	}
	res, err := t.scorer.Score(ctx, reqs)
	if err != nil {
		if oe, ok := lm.AsOverflow(err); ok && oe.Index >= 0 && oe.Index < len(miss) {
			// translate the request index into the pair index
			for i, p := range pairs {
				if p == miss[oe.Index] {
					return &lm.OverflowError{Index: i, Tokens: oe.Tokens, Limit: oe.Limit}
				}
			}
		}
		return fmt.Errorf("lmteacher: query %s: %w", c.Query.ID, err)
	}
	if len(res) != len(reqs) {
		return fmt.Errorf("lmteacher: LM returned %d results for %d requests", len(res), len(reqs))
	}
	keys := make([]scorecache.Key, 0, len(miss))
	vals := make([][]float64, 0, len(miss))
	for i, p := range miss {
		lps := res[i].TokenLogprobs
		if len(lps) == 0 {
			return streams.Permanent("lm-empty-target", fmt.Errorf("lmteacher: query %s: LM returned no target tokens for %q", c.Query.ID, p.req.Target))
		}
		for _, l := range lps {
			if math.IsNaN(l) || l > 1e-9 {
				return fmt.Errorf("lmteacher: query %s: LM returned log-probability %v", c.Query.ID, l)
			}
		}
		p.lps = lps
		keys = append(keys, p.key)
		vals = append(vals, lps)
	}
	t.pairs.Add(int64(len(miss)))
	t.sent.Add(int64(len(miss)))
	if t.cache != nil {
		if err := t.cache.Put(keys, vals); err != nil {
			return err
		}
	}
	return nil
}

// PairScore is the per-target log-likelihood of a pair: the sum of its token log-probabilities,
// or their mean with length normalization.
func PairScore(lps []float64, lengthNormalize bool) float64 {
	s := 0.0
	for _, l := range lps {
		s += l
	}
	if lengthNormalize && len(lps) > 0 {
		s /= float64(len(lps))
	}
	return s
}

// MeanTokenProb is the seed experiment's score: the mean over tokens of exp(log-prob).
func MeanTokenProb(lps []float64) float64 {
	if len(lps) == 0 {
		return 0
	}
	s := 0.0
	for _, l := range lps {
		s += math.Exp(l)
	}
	return s / float64(len(lps))
}

// combine turns pair scores into per-passage log-likelihoods and the teacher distribution.
func (t *Teacher) combine(pairs []*pair, k, nt int) (raw, dist []float64) {
	raw = make([]float64, k)
	inSoftmax := make([]float64, k)
	for i := 0; i < k; i++ {
		ps := pairs[i*nt : (i+1)*nt]
		vals := make([]float64, len(ps))
		for j, p := range ps {
			vals[j] = PairScore(p.lps, t.cfg.LengthNormalize)
		}
		switch t.cfg.Combine {
		case CombineLogSumExp:
			raw[i] = logSumExp(vals)
		default:
			raw[i] = vals[0]
			for _, v := range vals[1:] {
				raw[i] = math.Max(raw[i], v)
			}
		}
		switch t.cfg.ScoreTransform {
		case TransformProb:
			inSoftmax[i] = math.Exp(raw[i])
		case TransformMeanTok:
			best := 0.0
			for _, p := range ps {
				best = math.Max(best, MeanTokenProb(p.lps))
			}
			inSoftmax[i] = best
		default:
			inSoftmax[i] = raw[i]
		}
	}
	return raw, teachers.Softmax(inSoftmax, t.cfg.Beta)
}

func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// generate lets the LM answer from all k passages (gen-lsr).
func (t *Teacher) generate(ctx context.Context, c schemas.Candidates) (string, error) {
	pr := t.tmpl.QA(c.Query.Question, c.Docs)
	out, err := t.gen.Generate(ctx, pr, t.cfg.MaxAnswerTokens, []string{"\n"})
	if oe, ok := lm.AsOverflow(err); ok {
		// Too long with all k passages: answer from as many leading passages as fit.
		for n := len(c.Docs) / 2; n >= 1; n /= 2 {
			out, err = t.gen.Generate(ctx, t.tmpl.QA(c.Query.Question, c.Docs[:n]), t.cfg.MaxAnswerTokens, []string{"\n"})
			if _, again := lm.AsOverflow(err); !again {
				break
			}
		}
		if _, again := lm.AsOverflow(err); again {
			return "", streams.Permanent("context-overflow", fmt.Errorf("lmteacher: generation prompt: %w", oe))
		}
	}
	if err != nil {
		return "", fmt.Errorf("lmteacher: query %s: generate: %w", c.Query.ID, err)
	}
	out = strings.TrimSpace(out)
	if out == "" {
		return "", streams.Permanent("empty-generation", fmt.Errorf("lmteacher: query %s: the LM generated an empty answer", c.Query.ID))
	}
	return out, nil
}
