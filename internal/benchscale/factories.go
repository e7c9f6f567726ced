package benchscale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

// DefaultFactories are the index_factory descriptions RunFactories compares by default, with
// the search parameters lsrflow stores for them (dense.StepOptions.Params' defaults).
var DefaultFactories = []string{"Flat", "SQ8", "HNSW32,Flat", "IVF4096,Flat", "IVF4096,SQ8", "IVF4096,PQ20", "IVF4096,PQ50"}

// FactoryOptions configure RunFactories.
type FactoryOptions struct {
	Index     string   // index directory with a glove (or any) dense entry (required)
	Queries   string   // questions with gold_doc_ids (required)
	Factories []string // default DefaultFactories
	TopK      int      // default 20
	Train     int      // training sample for IVF/PQ (default 100,000)
	TempDir   string   // where each index is saved to measure its size (default os.TempDir())
	Log       io.Writer
}

// FactoryRow is one index type.
type FactoryRow struct {
	Factory        string
	Params         map[string]float64
	BuildSeconds   float64
	BytesPerVector float64
	QPS            float64
	Overlap        float64 // share of Flat's top-k ids this index returns
	Recall         float64 // gold recall@k
}

// FactoryReport is the result of RunFactories.
type FactoryReport struct {
	N, Dim, Queries, TopK int
	Rows                  []FactoryRow
}

// RunFactories embeds the passages of an index directory once with its dense embedder, then
// builds every factory in memory from those vectors (training on a sample when needed),
// saves it to measure its bytes per vector, and searches the questions in one batch: queries
// per second, overlap with Flat's top-k and gold recall@k.
func RunFactories(ctx context.Context, o FactoryOptions) (*FactoryReport, error) {
	if o.Index == "" || o.Queries == "" {
		return nil, errors.New("benchscale: Index and Queries are required")
	}
	if len(o.Factories) == 0 {
		o.Factories = DefaultFactories
	}
	if o.TopK <= 0 {
		o.TopK = 20
	}
	if o.Train <= 0 {
		o.Train = 100_000
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ix, err := retrieval.OpenIndex(o.Index)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	r, err := dense.Open(ctx, ix, dense.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	emb := r.Embedder()
	n, d := ix.Docs.Len(), emb.Dim()
	fmt.Fprintf(o.Log, "bench factories: embedding %d passages\n", n)
	data := make([]float32, 0, n*d)
	batch := make([]string, 0, 1024)
	flush := func() error {
		vecs, err := emb.Embed(ctx, batch, embed.Passage)
		if err != nil {
			return err
		}
		for _, v := range vecs {
			data = append(data, v...)
		}
		batch = batch[:0]
		return nil
	}
	err = ix.Docs.Scan(ctx, 0, n, func(_ int, c []byte) error {
		if batch = append(batch, string(c)); len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	qs, err := readQuestions(o.Queries)
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Question
	}
	qv, err := emb.Embed(ctx, texts, embed.Query)
	if err != nil {
		return nil, err
	}
	queries := slices.Concat(qv...)
	rep := &FactoryReport{N: n, Dim: d, Queries: len(qs), TopK: o.TopK}
	var flat [][]faissx.Hit
	for _, f := range o.Factories {
		fmt.Fprintf(o.Log, "bench factories: %s\n", f)
		row, hits, err := buildAndSearch(ctx, f, data, d, queries, o)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", f, err)
		}
		if flat == nil {
			flat = hits // the first factory is the reference (Flat by default)
		}
		same, total, gold := 0, 0, 0
		for q, hs := range hits {
			want := map[int64]bool{}
			for _, h := range flat[q] {
				want[h.ID] = true
			}
			total += len(flat[q])
			for _, h := range hs {
				if want[h.ID] {
					same++
				}
				id, _ := ix.Docs.ID(int(h.ID))
				if slices.Contains(qs[q].GoldDocIDs, id) {
					gold++
				}
			}
		}
		row.Overlap = float64(same) / float64(max(total, 1))
		row.Recall = float64(gold) / float64(max(len(qs), 1))
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func buildAndSearch(ctx context.Context, factory string, data []float32, d int, queries []float32, o FactoryOptions) (FactoryRow, [][]faissx.Hit, error) {
	row := FactoryRow{Factory: factory, Params: map[string]float64{}}
	t0 := time.Now()
	x, err := faissx.New(d, factory, faissx.InnerProduct)
	if err != nil {
		return row, nil, err
	}
	defer x.Close()
	if !x.IsTrained() {
		n := len(data) / d
		step := max(1, n/o.Train)
		sample := make([]float32, 0, min(n, o.Train)*d)
		for i := 0; i < n && len(sample) < o.Train*d; i += step {
			sample = append(sample, data[i*d:(i+1)*d]...)
		}
		if err := x.Train(sample); err != nil {
			return row, nil, err
		}
	}
	for lo := 0; lo < len(data); lo += 65536 * d {
		if err := ctx.Err(); err != nil {
			return row, nil, err
		}
		if err := x.Add(data[lo:min(len(data), lo+65536*d)]); err != nil {
			return row, nil, err
		}
	}
	row.BuildSeconds = time.Since(t0).Seconds()
	// The search parameters lsrflow index stores by default (dense.Step).
	if strings.Contains(factory, "HNSW") {
		row.Params["efSearch"] = 128
	}
	if strings.Contains(factory, "IVF") {
		row.Params["nprobe"] = 16
	}
	for k, v := range row.Params {
		if err := x.SetParam(k, v); err != nil {
			return row, nil, err
		}
	}
	dir := o.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "lsrflow-factory.index")
	if err := x.Save(path); err != nil {
		return row, nil, err
	}
	if st, err := os.Stat(path); err == nil {
		row.BytesPerVector = float64(st.Size()) / float64(len(data)/d)
	}
	os.Remove(path)
	t1 := time.Now()
	hits, err := x.Search(queries, o.TopK)
	if err != nil {
		return row, nil, err
	}
	if secs := time.Since(t1).Seconds(); secs > 0 {
		row.QPS = float64(len(queries)/d) / secs
	}
	return row, hits, nil
}

// Print writes the table.
func (r *FactoryReport) Print(w io.Writer) {
	fmt.Fprintf(w, "index factories: %d passages x %d dims, %d questions, top-%d (overlap: share of the first row's top-%d)\n", r.N, r.Dim, r.Queries, r.TopK, r.TopK)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "factory\tparams\tbuild s\tbytes/vector\tqueries/s\toverlap@k\tgold recall@k\t")
	for _, row := range r.Rows {
		var ps []string
		for k, v := range row.Params {
			ps = append(ps, fmt.Sprintf("%s=%g", k, v))
		}
		slices.Sort(ps)
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%.1f\t%.3f\t%.3f\t\n", row.Factory, strings.Join(ps, ","), row.BuildSeconds, row.BytesPerVector, row.QPS, row.Overlap, row.Recall)
	}
	tw.Flush()
}
