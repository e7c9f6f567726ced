package benchscale

import (
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

//go:embed flashrag_flat.py
var flashragFlatPy []byte

// FlatOptions configure RunFlashRAGFlat.
type FlatOptions struct {
	Bin     string    // lsrflow binary (required)
	Python  string    // python3 with faiss-python (default /usr/bin/python3)
	Dir     string    // work directory (required)
	N, Dim  int       // index size (default 1,000,000 x 768: e5-base over a 1M corpus)
	Queries int       // query vectors (default 1000)
	TopK    int       // default 20
	Keep    bool      // keep the index file (default: removed at the end)
	Log     io.Writer // child stderr (nil: discarded)
}

// FlatReport is the result of RunFlashRAGFlat.
type FlatReport struct {
	Options   FlatOptions
	FileBytes int64
	Rows      []Row
	Agreement float64 // share of faiss-python's top-k ids that the mapped search returned too
}

// RunFlashRAGFlat writes a FlashRAG-style Flat index with faiss-python (FlashRAG's layout:
// IndexFlatIP, write_index), then searches the same query batch three ways, each a measured
// child process: lsrflow with the file mapped (faissx.Load with mmap), lsrflow with FAISS
// reading it into memory, and faiss-python.
func RunFlashRAGFlat(ctx context.Context, o FlatOptions) (*FlatReport, error) {
	if o.Bin == "" || o.Dir == "" {
		return nil, errors.New("benchscale: Bin and Dir are required")
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
	if o.N <= 0 {
		o.N = 1_000_000
	}
	if o.Dim <= 0 {
		o.Dim = 768
	}
	if o.Queries <= 0 {
		o.Queries = 1000
	}
	if o.TopK <= 0 {
		o.TopK = 20
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	index, queries := filepath.Join(o.Dir, "e5_Flat.index"), filepath.Join(o.Dir, "queries.f32")
	if !o.Keep {
		defer os.Remove(index)
	}
	rep := &FlatReport{Options: o, Agreement: -1}
	script := filepath.Join(o.Dir, "flashrag_flat.py")
	if err := os.WriteFile(script, flashragFlatPy, 0o644); err != nil {
		return nil, err
	}
	u, err := run(ctx, exec.CommandContext(ctx, o.Python, script, strconv.Itoa(o.N), strconv.Itoa(o.Dim), strconv.Itoa(o.Queries), index, queries))
	if err != nil {
		return nil, err
	}
	rep.Rows = append(rep.Rows, Row{Step: "faiss-python write_index", Usage: u, Recall: -1})
	if st, err := os.Stat(index); err == nil {
		rep.FileBytes = st.Size()
	}
	k := strconv.Itoa(o.TopK)
	for _, mode := range []string{"mapped", "in-memory"} {
		out := filepath.Join(o.Dir, "lsrflow-"+mode+".i64")
		args := []string{"bench", "search-flat", "--index", index, "--queries", queries, "--topk", k, "--out", out}
		if mode == "in-memory" {
			args = append(args, "--in-memory")
		}
		cmd := exec.CommandContext(ctx, o.Bin, args...)
		cmd.Stderr = o.Log
		u, err := run(ctx, cmd)
		if err != nil {
			return rep, err
		}
		row := Row{Step: "lsrflow search (" + mode + ")", Usage: u, Recall: -1}
		var res struct{ Seconds, Load float64 }
		if err := json.Unmarshal([]byte(lastLine(u.Stdout)), &res); err == nil && res.Seconds > 0 {
			row.QPS = float64(o.Queries) / res.Seconds
			row.Note = fmt.Sprintf("load %.1f s", res.Load)
		}
		rep.Rows = append(rep.Rows, row)
	}
	ceiling := filepath.Join(o.Dir, "faiss_ceiling.py")
	if err := os.WriteFile(ceiling, faissCeilingPy, 0o644); err != nil {
		return rep, err
	}
	ids := filepath.Join(o.Dir, "faiss.i64")
	cmd := exec.CommandContext(ctx, o.Python, ceiling, index, queries, k, ids)
	cmd.Stderr = o.Log
	if u, err = run(ctx, cmd); err != nil {
		return rep, err
	}
	row := Row{Step: "faiss-python search", Usage: u, Recall: -1}
	var res struct {
		Seconds float64 `json:"seconds"`
		Load    float64 `json:"load_seconds"`
	}
	if err := json.Unmarshal([]byte(lastLine(u.Stdout)), &res); err == nil && res.Seconds > 0 {
		row.QPS = float64(o.Queries) / res.Seconds
		row.Note = fmt.Sprintf("read_index %.1f s", res.Load)
	}
	rep.Rows = append(rep.Rows, row)
	rep.Agreement, err = sharedIDs(filepath.Join(o.Dir, "lsrflow-mapped.i64"), ids, o.TopK)
	return rep, err
}

// sharedIDs is the share of b's ids (rows of k int64) that a's same row holds too.
func sharedIDs(a, b string, k int) (float64, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return 0, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return 0, err
	}
	if len(x) != len(y) || len(x)%(8*k) != 0 {
		return 0, fmt.Errorf("id files of %d and %d bytes", len(x), len(y))
	}
	same, total := 0, 0
	for r := 0; r < len(x)/(8*k); r++ {
		row := map[uint64]bool{}
		for j := range k {
			row[binary.LittleEndian.Uint64(x[8*(r*k+j):])] = true
		}
		for j := range k {
			total++
			if row[binary.LittleEndian.Uint64(y[8*(r*k+j):])] {
				same++
			}
		}
	}
	return float64(same) / float64(max(total, 1)), nil
}

// Print writes the report as one table.
func (r *FlatReport) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "FlashRAG-style Flat index: %d x %d float32 written by faiss-python, %s on disk; %d queries, top-%d\n",
		o.N, o.Dim, mb(r.FileBytes), o.Queries, o.TopK)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tseconds\tpeak RSS (VmHWM)\tpeak RssAnon\tpeak RssFile\tqueries/s\tnote\t")
	for _, row := range r.Rows {
		qps := ""
		if row.QPS > 0 {
			qps = fmt.Sprintf("%.1f", row.QPS)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", row.Step, row.Usage.Seconds, mb(row.Usage.HWM), mb(row.Usage.Anon), mb(row.Usage.File), qps, row.Note)
	}
	tw.Flush()
	if r.Agreement >= 0 {
		fmt.Fprintf(w, "mapped search top-%d ids shared with faiss-python: %.4f\n", o.TopK, r.Agreement)
	}
}

// SearchFlat is the measured child of RunFlashRAGFlat (`lsrflow bench search-flat`): it loads
// index (mapped unless inMemory), searches the query vectors of queriesPath in one batch and
// writes the ids (int64 little-endian, k per query, -1 for none) to out. It returns the load
// and search seconds as a JSON line.
func SearchFlat(index, queriesPath, out string, k int, inMemory bool) (string, error) {
	t0 := time.Now()
	x, err := faissx.Load(index, !inMemory)
	if err != nil {
		return "", err
	}
	defer x.Close()
	load := time.Since(t0).Seconds()
	raw, err := os.ReadFile(queriesPath)
	if err != nil {
		return "", err
	}
	if len(raw)%(4*x.Dim()) != 0 {
		return "", fmt.Errorf("%s: %d bytes is not a whole number of %d-d float32 vectors", queriesPath, len(raw), x.Dim())
	}
	q := make([]float32, len(raw)/4)
	for i := range q {
		q[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	t1 := time.Now()
	hits, err := x.Search(q, k)
	if err != nil {
		return "", err
	}
	secs := time.Since(t1).Seconds()
	b := make([]byte, 0, 8*k*len(hits))
	for _, hs := range hits {
		for j := range k {
			id := int64(-1)
			if j < len(hs) {
				id = hs[j].ID
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(id))
		}
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return "", err
	}
	line, _ := json.Marshal(map[string]any{"queries": len(hits), "seconds": secs, "load": load, "mapped": x.Mapped()})
	return string(line), nil
}
