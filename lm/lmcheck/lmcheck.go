package lmcheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
)

// Options tune the check.
type Options struct {
	// Tolerance is the largest per-token difference accepted between two scorings of the same
	// pair: Tolerance + Relative*|logprob| (defaults 0.1 and 0.02).
	Tolerance, Relative float64
	// CopyFloor is the least mean log-probability per token of the copy probe's target, which
	// any LM continues almost surely (default -1.0).
	CopyFloor float64
	// ThroughputPairs is how many pairs the throughput run scores (default 32).
	ThroughputPairs int
}

func (o Options) withDefaults() Options {
	if o.Tolerance <= 0 {
		o.Tolerance = 0.1
	}
	if o.Relative <= 0 {
		o.Relative = 0.02
	}
	if o.CopyFloor == 0 {
		o.CopyFloor = -1.0
	}
	if o.ThroughputPairs <= 0 {
		o.ThroughputPairs = 32
	}
	return o
}

// Finding is one line of the report.
type Finding struct {
	Check  string
	OK     bool
	Detail string
}

// Report is the outcome of a check.
type Report struct {
	Findings []Finding
	// Tokenizer names the tokenizer in use; BOS is its special prefix.
	Tokenizer string
	BOS       []int
	// PairsPerSecond and TokensPerSecond are from the throughput run.
	PairsPerSecond, TokensPerSecond float64
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, f := range r.Findings {
		if !f.OK {
			return false
		}
	}
	return len(r.Findings) > 0
}

func (r *Report) add(check string, ok bool, format string, a ...any) {
	r.Findings = append(r.Findings, Finding{Check: check, OK: ok, Detail: fmt.Sprintf(format, a...)})
}

// words is the copy probe's vocabulary: common words, so any tokenizer splits them alike.
var words = strings.Fields("river stone garden window silver morning candle forest letter bridge " +
	"orange thunder pocket music winter castle yellow kitchen rabbit mirror planet travel basket " +
	"harbor violet engine market summer ladder feather island number doctor pencil coffee shadow " +
	"button dragon")

// Probes returns the probe pairs: a copy probe (the target repeats text of the prompt, which
// every LM continues with near-certainty when positions are right), its control (the same
// target after an unrelated prompt), and two QA pairs with " , ", digits and multi-byte
// characters.
func Probes() []lm.Request {
	seq := strings.Join(words, " ")
	half := strings.Join(words[:len(words)/2], " ")
	rest := " " + strings.Join(words[len(words)/2:], " ")
	return []lm.Request{
		{Prompt: "Copy the list exactly.\nList: " + seq + "\nCopy: " + half, Target: rest},
		{Prompt: "The weather report for Tuesday, 14 March:", Target: rest},
		{Prompt: "Answer the question based on the given document.\nDoc 1(Title: Zürich) Zürich , the largest city of Switzerland , lies on Lake Zürich ; 東京 is far away.\nQuestion: which city lies on lake zürich?\nAnswer:", Target: " Zürich , Switzerland"},
		{Prompt: "Question: In which year did the Apollo 11 crew land on the Moon – and who stepped out first?\nAnswer:", Target: " 1969 , Neil Armstrong"},
	}
}

const (
	copyProbe    = 0
	controlProbe = 1
)

// Run checks the server behind c. It returns an error only when the server cannot be used at
// all (every finding is in the report otherwise).
func Run(ctx context.Context, c *httplm.Client, textClient *httplm.Client, o Options) (Report, error) {
	o = o.withDefaults()
	var rep Report
	tok := c.Tokenizer()
	rep.Tokenizer = tok.Source()
	pre, err := tok.Prefix(ctx)
	if err != nil {
		return rep, fmt.Errorf("lmcheck: tokenizer: %w", err)
	}
	rep.BOS = pre
	checkTokenizer(ctx, c, &rep)

	probes := Probes()
	alone := make([]lm.Result, len(probes))
	for i, p := range probes {
		r, err := c.Score(ctx, []lm.Request{p})
		if err != nil {
			rep.add("scoring", false, "probe %d alone: %v", i, err)
			return rep, nil
		}
		alone[i] = r[0]
	}
	rep.add("scoring", true, "%d probes scored, %s", len(probes), describe(alone))

	// Prefix caching: the same prompts again, after other prompts have been through the
	// server. Positions served from cache must not change.
	again := make([]lm.Result, len(probes))
	var againErr error
	for i := range probes {
		var r []lm.Result
		if r, againErr = c.Score(ctx, []lm.Request{probes[i]}); againErr != nil {
			break
		}
		again[i] = r[0]
		// another prompt between repetitions
		if _, againErr = c.Score(ctx, []lm.Request{probes[(i+1)%len(probes)]}); againErr != nil {
			break
		}
	}
	if againErr != nil {
		rep.add("prefix cache", false, "scoring again: %v", againErr)
	} else {
		compare(&rep, "prefix cache", "scored again after other prompts vs first time", "; prefix caching serves stale log-probabilities: start vLLM with --no-enable-prefix-caching (vllm issue 42019)", alone, again, o)
	}
	batched, err := c.Score(ctx, probes)
	if err != nil {
		rep.add("batched", false, "all probes in one call: %v", err)
	} else {
		compare(&rep, "batched", "scored together vs alone", "; the server's batching changes log-probabilities beyond bf16 noise", alone, batched, o)
	}
	rev := slices.Clone(probes)
	slices.Reverse(rev)
	reversed, err := c.Score(ctx, rev)
	if err != nil {
		rep.add("batch order", false, "reversed batch: %v", err)
	} else {
		slices.Reverse(reversed)
		compare(&rep, "batch order", "reversed batch vs alone", "; results depend on the order of a batch", alone, reversed, o)
	}
	if textClient != nil {
		texts, err := textClient.Score(ctx, probes)
		if err != nil {
			rep.add("text vs ids", false, "the server's own tokenization of the prompt text differs from the ids sent: %v", err)
		} else {
			compare(&rep, "text vs ids", "prompt sent as text vs as token ids", "; the server tokenizes text differently from the ids sent (BOS handling, special tokens)", alone, texts, o)
		}
	}
	positions(&rep, alone, o)
	throughput(ctx, c, &rep, o)
	return rep, nil
}

// checkTokenizer compares the local tokenizer with the server's, and a declared BOS with the
// one actually added.
func checkTokenizer(ctx context.Context, c *httplm.Client, rep *Report) {
	if err := c.CheckTokenizer(ctx); err != nil {
		rep.add("tokenizer", false, "%v", err)
	} else {
		rep.add("tokenizer", true, "%s, special prefix %v", rep.Tokenizer, rep.BOS)
	}
	bos, ok := c.DeclaredBOS(ctx)
	if !ok {
		return
	}
	ids, err := c.Tokenizer().Encode(ctx, bos)
	if err != nil || len(ids) != 1 {
		rep.add("BOS", false, "the server declares bos_token %q, which is not one token here (%v, %v)", bos, ids, err)
		return
	}
	if !slices.Contains(rep.BOS, ids[0]) {
		rep.add("BOS", false, "the server's tokenizer declares bos_token %q (id %d) but does not add it to prompts (its tokenizer.json has no TemplateProcessing post-processor adding BOS): scores are computed without BOS; use the model's current tokenizer files", bos, ids[0])
		return
	}
	rep.add("BOS", true, "bos_token %q (id %d) is added", bos, ids[0])
}

func describe(rs []lm.Result) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d tokens/%.3f", len(r.TokenLogprobs), r.Sum()))
	}
	return "target tokens/log-likelihood: " + strings.Join(parts, ", ")
}

// compare checks b against a token by token.
func compare(rep *Report, check, what, hint string, a, b []lm.Result, o Options) {
	worst, at := 0.0, ""
	for i := range a {
		if len(a[i].TokenLogprobs) != len(b[i].TokenLogprobs) {
			rep.add(check, false, "%s: probe %d has %d target tokens, then %d%s", what, i, len(a[i].TokenLogprobs), len(b[i].TokenLogprobs), hint)
			return
		}
		for j, x := range a[i].TokenLogprobs {
			y := b[i].TokenLogprobs[j]
			d := math.Abs(x - y)
			if d > worst {
				worst, at = d, fmt.Sprintf("probe %d token %d: %.4f vs %.4f", i, j, x, y)
			}
			if d > o.Tolerance+o.Relative*math.Abs(x) {
				rep.add(check, false, "%s: %s differs by %.3g (tolerance %.3g)%s", what, at, d, o.Tolerance+o.Relative*math.Abs(x), hint)
				return
			}
		}
	}
	rep.add(check, true, "%s: largest per-token difference %.3g", what, worst)
}

// positions checks that the copy probe's target is near-certain and its control is not.
func positions(rep *Report, alone []lm.Result, o Options) {
	mean := func(r lm.Result) float64 { return r.Sum() / float64(max(1, len(r.TokenLogprobs))) }
	cp, ctl := mean(alone[copyProbe]), mean(alone[controlProbe])
	switch {
	case cp < o.CopyFloor:
		rep.add("positions", false, "the copy probe's target has mean log-probability %.3f per token (< %.2f): the log-probabilities are not those of the target's tokens at their positions (off by one, or a wrong BOS/tokenizer)", cp, o.CopyFloor)
	case ctl > cp-1:
		rep.add("positions", false, "the copy probe (%.3f per token) is not clearly likelier than its control (%.3f): the server does not condition on the prompt", cp, ctl)
	default:
		rep.add("positions", true, "copy probe %.3f per token, control %.3f", cp, ctl)
	}
}

// throughput scores ThroughputPairs QA-like pairs in one call.
func throughput(ctx context.Context, c *httplm.Client, rep *Report, o Options) {
	p := Probes()
	reqs := make([]lm.Request, o.ThroughputPairs)
	for i := range reqs {
		r := p[2+i%2]
		r.Prompt = fmt.Sprintf("Passage %d. ", i) + r.Prompt
		reqs[i] = r
	}
	start := time.Now()
	res, err := c.Score(ctx, reqs)
	el := time.Since(start).Seconds()
	if err != nil {
		rep.add("throughput", false, "%d pairs: %v", len(reqs), err)
		return
	}
	toks := 0
	for _, r := range res {
		toks += r.Tokens
	}
	rep.PairsPerSecond = float64(len(reqs)) / el
	rep.TokensPerSecond = float64(toks) / el
	rep.add("throughput", true, "%d pairs (%d tokens) in %.2fs: %.1f pairs/s, %.0f tokens/s", len(reqs), toks, el, rep.PairsPerSecond, rep.TokensPerSecond)
}

// ErrUntrustworthy is returned by callers when a report has failures.
var ErrUntrustworthy = errors.New("lm check: scoring is not trustworthy")
