package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
	"github.com/lsrflow/lsrflow/schemas"
)

// EvalQuery is an evaluation question with its gold document ids, or a held-out training
// query with the passages its teacher preferred.
type EvalQuery struct {
	ID, Question string
	GoldDocIDs   []string
	// Relevant are the teacher's preferred passages of a held-out training record.
	Relevant []string
}

// ReadEvalQueries reads a FlashRAG dataset file; questions without gold_doc_ids are dropped
// (gold-document recall needs them), as are bad lines. It returns the dropped count too.
func ReadEvalQueries(path string) ([]EvalQuery, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	lr := schemas.NewLineReader(f, 0)
	var out []EvalQuery
	dropped := 0
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		if line.Err != nil {
			dropped++
			continue
		}
		q, err := schemas.DecodeQuery(line.Bytes)
		if err != nil || len(q.GoldDocIDs) == 0 {
			dropped++
			continue
		}
		out = append(out, EvalQuery{ID: q.ID, Question: q.Question, GoldDocIDs: q.GoldDocIDs})
	}
	return out, dropped, nil
}

// DenseSearcher searches the dense index with query vectors the caller embedded and adapted
// (a dense.Retriever without an adapter of its own satisfies it; one batched FAISS call).
type DenseSearcher interface {
	SearchVectors(ctx context.Context, vecs [][]float32, k int) ([][]schemas.Passage, error)
}

// Evaluator measures a query adapter on fixed questions with whole-corpus retrieval through
// the index, as the served retriever ranks: dense alone, or fused with the lexical lists
// (fetched once: they do not change with the adapter). Metrics are gold_recall@k (the
// fraction of a question's gold_doc_ids in the top k) over questions with gold ids, and
// teacher_hit@k (whether the top k holds a passage the teacher preferred) over held-out
// training records.
type Evaluator struct {
	Queries []EvalQuery
	Ks      []int
	dense   DenseSearcher
	qvecs   [][]float32
	lex     [][]schemas.Passage
}

// DefaultKs are the recall cutoffs reported.
var DefaultKs = []int{1, 5, 20}

// fetchFor is the hybrid over-fetch for cutoff k (hybrid.Options defaults: max(4k, 100)).
func fetchFor(k int) int { return max(4*k, 100) }

// NewEvaluator embeds the questions once with emb (kind Query) and, when lex is set, fetches
// their lexical lists once.
func NewEvaluator(ctx context.Context, emb embed.Embedder, qs []EvalQuery, ks []int, dense DenseSearcher, lex Lexical) (*Evaluator, error) {
	if len(qs) == 0 {
		return nil, errors.New("train: no evaluation questions")
	}
	if dense == nil {
		return nil, errors.New("train: the evaluator needs the dense index")
	}
	if len(ks) == 0 {
		ks = DefaultKs
	}
	ks = append([]int(nil), ks...)
	sort.Ints(ks)
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Question
	}
	vecs, err := emb.Embed(ctx, texts, embed.Query)
	if err != nil {
		return nil, fmt.Errorf("train: embed evaluation questions: %w", err)
	}
	if len(vecs) != len(qs) {
		return nil, fmt.Errorf("train: embedder returned %d vectors for %d questions", len(vecs), len(qs))
	}
	e := &Evaluator{Queries: qs, Ks: ks, dense: dense, qvecs: vecs}
	if lex != nil {
		e.lex = make([][]schemas.Passage, len(qs))
		for i, q := range qs {
			if e.lex[i], err = lex.Search(ctx, q.Question, fetchFor(ks[len(ks)-1])); err != nil {
				return nil, fmt.Errorf("train: lexical search: %w", err)
			}
			for j := range e.lex[i] {
				e.lex[i][j].Contents = "" // ranks need ids and scores only
			}
		}
	}
	return e, nil
}

// HasLexical reports whether the evaluator can rank as a hybrid retriever.
func (e *Evaluator) HasLexical() bool { return e.lex != nil }

// MetricName names gold-document recall at k.
func MetricName(k int) string { return "gold_recall@" + strconv.Itoa(k) }

// TeacherRR names the held-out mean reciprocal rank of the first passage the teacher
// preferred (0 when none is in the top max(Ks)).
const TeacherRR = "teacher_mrr"

// TeacherRecallName names the held-out share of the teacher's preferred passages in the top
// k: for a teacher that spreads its mass evenly over them (answer-match), the probability
// that the top k holds the passage the teacher's distribution would pick.
func TeacherRecallName(k int) string { return "teacher_recall@" + strconv.Itoa(k) }

// HitName names the held-out teacher hit rate at k.
func HitName(k int) string { return "teacher_hit@" + strconv.Itoa(k) }

// Rank returns the top kmax passage ids of every question with adapter a (nil: none) as
// served by sv (Method "hybrid" fuses with the lexical lists, anything else is dense).
func (e *Evaluator) Rank(ctx context.Context, a *adapter.Linear, sv adapter.Serving, kmax int) ([][]string, error) {
	out, err := e.rankMany(ctx, a, []adapter.Serving{sv}, kmax)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// rankMany ranks with one dense search for all of svs (they differ in fusion only).
func (e *Evaluator) rankMany(ctx context.Context, a *adapter.Linear, svs []adapter.Serving, kmax int) ([][][]string, error) {
	vecs := e.qvecs
	if a != nil {
		vecs = make([][]float32, len(e.qvecs))
		for i, v := range e.qvecs {
			vecs[i] = a.Apply(v)
		}
	}
	fetch := kmax
	opts := make([]hybrid.Options, len(svs))
	for j, sv := range svs {
		if sv.Method != hybrid.Method {
			continue
		}
		if e.lex == nil {
			return nil, errors.New("train: hybrid evaluation needs the lexical retriever")
		}
		var err error
		if opts[j], err = adapter.FusionOptions(sv); err != nil {
			return nil, err
		}
		fetch = fetchFor(kmax)
	}
	res, err := e.dense.SearchVectors(ctx, vecs, fetch)
	if err != nil {
		return nil, err
	}
	out := make([][][]string, len(svs))
	for j, sv := range svs {
		out[j] = make([][]string, len(res))
		for i, ps := range res {
			if sv.Method == hybrid.Method {
				ps = hybrid.Fuse(e.lex[i], ps, kmax, opts[j])
			}
			ids := make([]string, 0, min(kmax, len(ps)))
			for _, p := range ps[:min(kmax, len(ps))] {
				ids = append(ids, p.ID)
			}
			out[j][i] = ids
		}
	}
	return out, nil
}

// Eval returns the metrics of adapter a (nil: the untrained retriever) served as sv.
func (e *Evaluator) Eval(ctx context.Context, a *adapter.Linear, sv adapter.Serving) (map[string]float64, error) {
	ms, err := e.EvalFusions(ctx, a, []adapter.Serving{sv})
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// EvalFusions is Eval for several ways of serving the same adapter (one dense search).
func (e *Evaluator) EvalFusions(ctx context.Context, a *adapter.Linear, svs []adapter.Serving) ([]map[string]float64, error) {
	all, err := e.rankMany(ctx, a, svs, e.Ks[len(e.Ks)-1])
	if err != nil {
		return nil, err
	}
	out := make([]map[string]float64, len(svs))
	for j, res := range all {
		out[j] = e.score(res)
	}
	return out, nil
}

func (e *Evaluator) score(res [][]string) map[string]float64 {
	m := map[string]float64{}
	var nGold, nRel int
	for i, q := range e.Queries {
		if len(q.GoldDocIDs) > 0 {
			nGold++
			for _, k := range e.Ks {
				m[MetricName(k)] += evaluate.GoldRecallAt(res[i], q.GoldDocIDs, k)
			}
		}
		if len(q.Relevant) > 0 {
			nRel++
			for _, k := range e.Ks {
				r := evaluate.GoldRecallAt(res[i], q.Relevant, k)
				if r > 0 {
					m[HitName(k)]++
				}
				m[TeacherRecallName(k)] += r
			}
			for r, id := range res[i] {
				if slices.Contains(q.Relevant, id) {
					m[TeacherRR] += 1 / float64(r+1)
					break
				}
			}
		}
	}
	for _, k := range e.Ks {
		if nGold > 0 {
			m[MetricName(k)] /= float64(nGold)
		}
		if nRel > 0 {
			m[HitName(k)] /= float64(nRel)
			m[TeacherRecallName(k)] /= float64(nRel)
		}
	}
	if nRel > 0 {
		m[TeacherRR] /= float64(nRel)
	}
	return m
}

// NotWorse reports whether cand is at least as good as cur on the named metrics: none drops
// by more than tol and their mean does not drop at all. A nil cur is always beaten.
func NotWorse(cand, cur map[string]float64, names []string, tol float64) bool {
	if cur == nil {
		return true
	}
	var dc, du float64
	for _, n := range names {
		if cand[n] < cur[n]-tol {
			return false
		}
		dc += cand[n]
		du += cur[n]
	}
	return dc >= du-1e-12
}

// Names returns the metric names of kind (MetricName or HitName) at ks.
func Names(kind func(int) string, ks []int) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = kind(k)
	}
	return out
}
