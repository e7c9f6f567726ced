package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
)

// EvalQuery is an evaluation question with its gold document ids.
type EvalQuery struct {
	ID, Question string
	GoldDocIDs   []string
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

// SearchFunc returns the ids of the top k passages of each (already adapted) query vector.
type SearchFunc func(ctx context.Context, vecs [][]float32, k int) ([][]string, error)

// DenseSearch searches the FAISS index of r (which must have no adapter of its own).
func DenseSearch(r *dense.Retriever) SearchFunc {
	return func(ctx context.Context, vecs [][]float32, k int) ([][]string, error) {
		res, err := r.SearchVectors(ctx, vecs, k)
		if err != nil {
			return nil, err
		}
		out := make([][]string, len(res))
		for i, ps := range res {
			for _, p := range ps {
				out[i] = append(out[i], p.ID)
			}
		}
		return out, nil
	}
}

// ExactSearch scans the index's rows of p by inner product in float64.
func ExactSearch(p *Passages) SearchFunc {
	return func(ctx context.Context, vecs [][]float32, k int) ([][]string, error) {
		out := make([][]string, len(vecs))
		type hit struct {
			row int
			s   float64
		}
		hits := make([]hit, p.Corpus)
		for i, v := range vecs {
			for r := range p.Corpus {
				row := p.Vecs[r*p.D : (r+1)*p.D]
				var s float64
				for j, x := range row {
					s += x * float64(v[j])
				}
				hits[r] = hit{r, s}
			}
			sort.Slice(hits, func(a, b int) bool {
				if hits[a].s != hits[b].s {
					return hits[a].s > hits[b].s
				}
				return hits[a].row < hits[b].row
			})
			for _, h := range hits[:min(k, len(hits))] {
				out[i] = append(out[i], p.IDs[h.row])
			}
		}
		return out, nil
	}
}

// Evaluator measures gold-document recall@k of an adapter on fixed evaluation questions.
type Evaluator struct {
	Queries []EvalQuery
	Ks      []int
	search  SearchFunc
	qvecs   [][]float32
}

// DefaultKs are the recall cutoffs reported.
var DefaultKs = []int{1, 5, 20}

// NewEvaluator embeds the questions once with emb (kind Query).
func NewEvaluator(ctx context.Context, emb embed.Embedder, qs []EvalQuery, ks []int, search SearchFunc) (*Evaluator, error) {
	if len(qs) == 0 {
		return nil, errors.New("train: no evaluation questions with gold_doc_ids")
	}
	if len(ks) == 0 {
		ks = DefaultKs
	}
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Question
	}
	vecs, err := emb.Embed(ctx, texts, embed.Query)
	if err != nil {
		return nil, fmt.Errorf("train: embed evaluation questions: %w", err)
	}
	ks = append([]int(nil), ks...)
	sort.Ints(ks)
	return &Evaluator{Queries: qs, Ks: ks, search: search, qvecs: vecs}, nil
}

// MetricName names gold-document recall at k.
func MetricName(k int) string { return "gold_recall@" + strconv.Itoa(k) }

// Eval returns gold_recall@k for each k with adapter a applied (nil: the untrained retriever).
func (e *Evaluator) Eval(ctx context.Context, a *adapter.Linear) (map[string]float64, error) {
	vecs := e.qvecs
	if a != nil {
		vecs = make([][]float32, len(e.qvecs))
		for i, v := range e.qvecs {
			vecs[i] = a.Apply(v)
		}
	}
	kmax := e.Ks[len(e.Ks)-1]
	res, err := e.search(ctx, vecs, kmax)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, k := range e.Ks {
		var s float64
		for i, q := range e.Queries {
			s += evaluate.GoldRecallAt(res[i], q.GoldDocIDs, k)
		}
		m[MetricName(k)] = s / float64(len(e.Queries))
	}
	return m, nil
}

// NotWorse reports whether cand is at least as good as cur: no cutoff drops by more than tol
// and the mean over cutoffs does not drop at all. A nil cur is always beaten.
func NotWorse(cand, cur map[string]float64, ks []int, tol float64) bool {
	if cur == nil {
		return true
	}
	var dc, du float64
	for _, k := range ks {
		n := MetricName(k)
		if cand[n] < cur[n]-tol {
			return false
		}
		dc += cand[n]
		du += cur[n]
	}
	return dc >= du-1e-12
}
