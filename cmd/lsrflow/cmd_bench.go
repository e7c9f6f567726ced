package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/gguf"
	"github.com/lsrflow/lsrflow/lm/gguf/ggufwrite"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

func benchCmd() *command {
	return &command{name: "bench", summary: "benchmarks: teach (LM teacher), stream (stage runner vs the Kafka client), scale (a synthetic corpus end to end), flashrag-flat, factories, search-flat", run: func(ctx context.Context, sio stdio, args []string) error {
		if len(args) > 0 {
			switch args[0] {
			case "teach":
				return benchTeach(ctx, sio, args[1:])
			case "stream":
				return benchStream(ctx, sio, args[1:])
			case "scale":
				return benchScale(ctx, sio, args[1:])
			case "flashrag-flat":
				return benchFlashRAGFlat(ctx, sio, args[1:])
			case "factories":
				return benchFactories(ctx, sio, args[1:])
			case "search-flat":
				return benchSearchFlat(sio, args[1:])
			case "-h", "--help":
				fmt.Fprintln(sio.out, "Usage: lsrflow bench teach|stream|scale|flashrag-flat|factories|search-flat [flags]   (see 'lsrflow bench NAME --help')")
				return nil
			}
		}
		return usagef("want a benchmark name: teach, stream, scale, flashrag-flat, factories or search-flat")
	}}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func benchTeach(ctx context.Context, sio stdio, args []string) error {
	cache := envOr("LSRFLOW_CACHE", ".cache")
	shared := envOr("LSRFLOW_SHARED", filepath.Join("..", "shared"))
	f := newFlags(sio, "bench teach", "[flags]", `
Measures LM scoring on an in-process random-weight GGUF model (~50M parameters, 512 wide,
8 layers; written on first use), k passages of ~150 tokens per NQ question, interleaved query
by query, median of the rounds:
  naive    the earlier experiment's loop: one full prompt per call, one answer, logits everywhere
  lsrflow  the LSR teacher: shared prefix decoded once, answers branch from one decoded prompt,
           logits only at answer positions
  ceiling  plain prompt processing of the naive prompts with no outputs (this CPU's ceiling)
Prints pairs/s and tokens/s of each, efficiency = lsrflow processed tokens/s over the ceiling,
and last batched/naive = lsrflow pairs/s over naive pairs/s.`)
	model := f.String("model", filepath.Join(cache, "bench", "bench-50m.gguf"), "GGUF model (created from --vocab when missing)")
	vocab := f.String("vocab", filepath.Join(cache, "llama", "src", "models", "ggml-vocab-llama-spm.gguf"), "GGUF vocabulary to build the model with")
	lib := f.String("lib", filepath.Join(cache, "llama", "lib"), "directory with libllama.so")
	questions := f.String("questions", filepath.Join(shared, "data", "nq-open", "dev.jsonl"), "NQ questions (FlashRAG jsonl)")
	corpus := f.String("corpus", filepath.Join(shared, "data", "qed", "corpus.jsonl"), "passages (FlashRAG corpus jsonl)")
	nq := f.Int("queries", 3, "questions per round")
	k := f.Int("k", 20, "passages per question")
	rounds := f.Int("rounds", 3, "rounds (the median is reported)")
	threads := f.Int("threads", 2, "decode threads")
	if err := f.parse(args); err != nil {
		return err
	}
	if *nq < 1 || *k < 1 || *rounds < 1 {
		return usagef("--queries, --k and --rounds must be positive")
	}
	for _, p := range []struct{ flag, path string }{{"lib", *lib}, {"questions", *questions}, {"corpus", *corpus}} {
		if err := mustExist(p.flag, p.path); err != nil {
			return err
		}
	}
	if _, err := os.Stat(*model); err != nil {
		if err := mustExist("vocab", *vocab); err != nil {
			return err
		}
		fmt.Fprintf(sio.err, "bench teach: writing random-weight model %s\n", *model)
		if err := os.MkdirAll(filepath.Dir(*model), 0o755); err != nil {
			return err
		}
		if err := ggufwrite.Write(*model, *vocab, ggufwrite.Bench(1)); err != nil {
			return err
		}
	}
	cands, err := benchCandidates(*questions, *corpus, *nq**rounds, *k)
	if err != nil {
		return err
	}
	m, err := gguf.Open(*model, gguf.Options{LibDir: *lib, ContextSize: 1024, Threads: *threads})
	if err != nil {
		return err
	}
	defer m.Close()
	t, err := lmteacher.Open(ctx, lmteacher.Config{Method: lmteacher.MethodLSR, Scorer: m, NoCache: true})
	if err != nil {
		return err
	}
	defer t.Close()
	tmpl := prompt.Default("")
	naiveReq := func(c schemas.Candidates, i int) lm.Request {
		return lm.Request{Prompt: tmpl.QA(c.Query.Question, c.Docs[i:i+1]), Target: tmpl.TargetPrefix() + strings.TrimSpace(c.Query.GoldenAnswers[0])}
	}

	// Warm up (page in the weights) and check that both paths give the same scores.
	maxDiff, checked := 0.0, 0
	for _, c := range cands[:1] {
		one := c
		one.Query.GoldenAnswers = c.Query.GoldenAnswers[:1]
		s, err := t.Teach(ctx, one)
		if err != nil {
			return err
		}
		for i := range c.Docs {
			r, err := m.ScoreOne(ctx, naiveReq(c, i), gguf.FullLogits)
			if err != nil {
				return err
			}
			maxDiff = math.Max(maxDiff, math.Abs(r.Sum()-s.TeacherScores[i]))
			checked++
		}
	}

	type acc struct {
		pairs, tokens int
		dur           time.Duration
	}
	var naive, ours, ceil []acc
	for r := 0; r < *rounds; r++ {
		var a, b, c acc
		for qi, cs := range cands[r**nq : (r+1)**nq] {
			paths := []func() error{
				func() error { // naive
					start := time.Now()
					for i := range cs.Docs {
						res, err := m.ScoreOne(ctx, naiveReq(cs, i), gguf.FullLogits)
						if err != nil {
							return err
						}
						a.tokens += res.Tokens
					}
					a.pairs += len(cs.Docs)
					a.dur += time.Since(start)
					return nil
				},
				func() error { // lsrflow teacher
					before := m.Counters().Tokens
					start := time.Now()
					if _, err := t.Teach(ctx, cs); err != nil {
						return err
					}
					b.dur += time.Since(start)
					b.pairs += len(cs.Docs)
					b.tokens += int(m.Counters().Tokens - before)
					return nil
				},
				func() error { // ceiling
					start := time.Now()
					for i := range cs.Docs {
						n, err := m.DecodeOnly(ctx, naiveReq(cs, i).Text())
						if err != nil {
							return err
						}
						c.tokens += n
					}
					c.pairs += len(cs.Docs)
					c.dur += time.Since(start)
					return nil
				},
			}
			for j := range paths { // rotate the order query by query
				if err := paths[(j+qi+r)%3](); err != nil {
					return err
				}
			}
		}
		naive, ours, ceil = append(naive, a), append(ours, b), append(ceil, c)
		fmt.Fprintf(sio.err, "bench teach: round %d: naive %.1f pairs/s, lsrflow %.1f pairs/s, ceiling %.0f tokens/s\n", r+1,
			float64(a.pairs)/a.dur.Seconds(), float64(b.pairs)/b.dur.Seconds(), float64(c.tokens)/c.dur.Seconds())
	}
	med := func(xs []acc, f func(acc) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	pps := func(x acc) float64 { return float64(x.pairs) / x.dur.Seconds() }
	tps := func(x acc) float64 { return float64(x.tokens) / x.dur.Seconds() }
	info := m.Info()
	fmt.Fprintf(sio.out, "model %s (%s), k=%d, %d questions x %d rounds (median), %d threads\n", info.Model, info.Precision, *k, *nq, *rounds, *threads)
	fmt.Fprintf(sio.out, "naive:   %8.2f pairs/s  %8.1f tokens/s (one full prompt per call, one answer, logits everywhere)\n", med(naive, pps), med(naive, tps))
	fmt.Fprintf(sio.out, "lsrflow: %8.2f pairs/s  %8.1f tokens/s processed (prefix decoded once, answers branch, logits at answers)\n", med(ours, pps), med(ours, tps))
	fmt.Fprintf(sio.out, "ceiling: %8.2f pairs/s  %8.1f tokens/s (plain prompt processing, no outputs)\n", med(ceil, pps), med(ceil, tps))
	fmt.Fprintf(sio.out, "scores: max |naive - lsrflow| = %.3g nats over %d pairs\n", maxDiff, checked)
	fmt.Fprintf(sio.out, "efficiency = %.3f\n", med(ours, tps)/med(ceil, tps))
	fmt.Fprintf(sio.out, "batched/naive = %.3f\n", med(ours, pps)/med(naive, pps))
	return nil
}

// benchCandidates pairs the first n NQ questions with k passages of 450-800 characters
// (~150 tokens), rotating through the corpus; the LM's weights are random, so relevance does
// not matter for speed.
func benchCandidates(qpath, cpath string, n, k int) ([]schemas.Candidates, error) {
	var qs []schemas.Query
	if err := eachLine(qpath, func(b []byte) error {
		q, err := schemas.DecodeQuery(b)
		if err == nil && len(q.GoldenAnswers) > 0 && len(qs) < n {
			qs = append(qs, q)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var docs []schemas.Passage
	if err := eachLine(cpath, func(b []byte) error {
		d, err := schemas.DecodeCorpusDoc(b)
		if err == nil && len(d.Contents) >= 450 && len(d.Contents) <= 800 {
			docs = append(docs, schemas.Passage{ID: d.ID, Contents: d.Contents})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(qs) < n || len(docs) < k {
		return nil, fmt.Errorf("bench teach: need %d questions and %d passages, found %d and %d", n, k, len(qs), len(docs))
	}
	out := make([]schemas.Candidates, n)
	for i, q := range qs {
		c := schemas.Candidates{SchemaVersion: schemas.CandidatesVersion, Query: q, Retriever: schemas.RetrieverInfo{Method: "bench"}}
		for j := 0; j < k; j++ {
			c.Docs = append(c.Docs, docs[(i*k+j)%len(docs)])
		}
		out[i] = c
	}
	return out, nil
}

func eachLine(path string, fn func([]byte) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	lr := schemas.NewLineReader(fh, 1<<24)
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Err != nil {
			continue
		}
		if err := fn(l.Bytes); err != nil {
			return err
		}
	}
}
