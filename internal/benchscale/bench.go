package benchscale

import (
	"bufio"
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
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
)

//go:embed faiss_ceiling.py
var faissCeilingPy []byte

// Steps in the order they run.
var Steps = []string{"gen", "index", "bm25", "dense", "hybrid", "faiss", "synth", "train"}

// Options configure Run.
type Options struct {
	Bin       string    // lsrflow binary run for every step (required)
	Python    string    // python3 with faiss-python (default /usr/bin/python3)
	Dir       string    // work directory (required; created)
	Passages  int       // corpus size (required)
	Seed      uint64    // corpus seed
	Questions int       // train and test questions (default 2000 each)
	TopK      int       // passages per query (default 20)
	Steps     []string  // subset of Steps to run (default all); later steps need earlier outputs
	Env       []string  // extra environment for the children
	Log       io.Writer // child stderr and progress (nil: discarded)
}

// Row is one measured step.
type Row struct {
	Step    string
	Usage   Usage
	Queries int     // queries searched (retrieve steps), 0 otherwise
	QPS     float64 // queries per second of the search itself (command's own timing)
	Recall  float64 // gold-passage recall@TopK (retrieve steps), -1 when not measured
	Note    string
}

// Report is the result of Run.
type Report struct {
	Options Options
	Rows    []Row
	// Disk is bytes on disk per component (corpus, docstore, bm25, dense).
	Disk map[string]int64
	// Agreement is the share of faiss-python's top-k ids that lsrflow's dense retrieve
	// returned too (-1 when not measured).
	Agreement float64
}

func (o *Options) defaults() error {
	if o.Bin == "" || o.Dir == "" || o.Passages <= 0 {
		return errors.New("benchscale: Bin, Dir and Passages are required")
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
	if o.Questions <= 0 {
		o.Questions = 2000
	}
	if o.TopK <= 0 {
		o.TopK = 20
	}
	if len(o.Steps) == 0 {
		o.Steps = Steps
	}
	for _, s := range o.Steps {
		if !slices.Contains(Steps, s) {
			return fmt.Errorf("benchscale: unknown step %q (steps: %s)", s, strings.Join(Steps, ", "))
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// paths of the work directory.
func (o *Options) data(name string) string { return filepath.Join(o.Dir, "data", name) }
func (o *Options) index() string           { return filepath.Join(o.Dir, "index") }
func (o *Options) out(name string) string  { return filepath.Join(o.Dir, "out", name) }

// Run runs the selected steps one at a time, each as a child process, and measures them.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, "data"), filepath.Join(o.Dir, "out")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	rep := &Report{Options: o, Disk: map[string]int64{}, Agreement: -1}
	k := strconv.Itoa(o.TopK)
	for _, step := range o.Steps {
		fmt.Fprintf(o.Log, "bench scale: %s\n", step)
		var (
			row Row
			err error
		)
		switch step {
		case "gen":
			row, err = o.child(ctx, step, "gen", "corpus", "--passages", strconv.Itoa(o.Passages), "--seed", strconv.FormatUint(o.Seed, 10),
				"--train", strconv.Itoa(o.Questions), "--test", strconv.Itoa(o.Questions), "--out", filepath.Join(o.Dir, "data"))
		case "index":
			row, err = o.child(ctx, step, "index", "--corpus", o.data("corpus.jsonl"), "--out", o.index(), "--embedder", "glove")
		case "bm25", "dense", "hybrid":
			row, err = o.retrieve(ctx, step, k)
		case "faiss":
			row, err = o.faiss(ctx, rep)
		case "synth":
			os.RemoveAll(o.out("synth")) // a leftover run would resume instead of measuring
			row, err = o.child(ctx, step, "synth", "--index", o.index(), "--queries", o.data("train.jsonl"), "--teacher", "answer-match",
				"--method", "bm25", "--topk", k, "--out", o.out("synth"))
			if err == nil {
				row.QPS = parseFloat(`([0-9.]+) queries/s`, row.Usage.Stdout)
			}
		case "train":
			row, err = o.child(ctx, step, "train", "--index", o.index(), "--data", filepath.Join(o.out("synth"), "scored.parquet"),
				"--out", o.out("adapter.safetensors"), "--eval", o.data("test.jsonl"))
		}
		if err != nil {
			return rep, fmt.Errorf("step %s: %w", step, err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	rep.Disk = o.disk()
	return rep, nil
}

// child runs the lsrflow binary with args and measures it.
func (o *Options) child(ctx context.Context, step string, args ...string) (Row, error) {
	cmd := exec.CommandContext(ctx, o.Bin, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = o.Log
	u, err := run(ctx, cmd)
	return Row{Step: step, Usage: u, Recall: -1}, err
}

var retrieveSummary = regexp.MustCompile(`: (\d+) queries, .* \(([0-9.]+) queries/s\) -> `)

// retrieve runs `lsrflow retrieve --method method` over the test questions.
func (o *Options) retrieve(ctx context.Context, method, k string) (Row, error) {
	out := o.out("retrieve-" + method + ".jsonl")
	row, err := o.child(ctx, "retrieve "+method, "retrieve", "--index", o.index(), "--queries", o.data("test.jsonl"),
		"--method", method, "--topk", k, "--out", out)
	if err != nil {
		return row, err
	}
	m := retrieveSummary.FindStringSubmatch(row.Usage.Stdout)
	if m == nil {
		return row, fmt.Errorf("retrieve printed no summary: %q", row.Usage.Stdout)
	}
	row.Queries, _ = strconv.Atoi(m[1])
	row.QPS, _ = strconv.ParseFloat(m[2], 64)
	row.Recall, err = goldRecall(out)
	return row, err
}

// faiss embeds the test questions with the index's dense embedder and times faiss-python's
// batch search over the same index file.
func (o *Options) faiss(ctx context.Context, rep *Report) (Row, error) {
	ix, err := retrieval.OpenIndex(o.index())
	if err != nil {
		return Row{}, err
	}
	r, err := dense.Open(ctx, ix, dense.OpenOptions{})
	if err != nil {
		ix.Close()
		return Row{}, err
	}
	e, _ := ix.Manifest.DenseByName("")
	indexFile := ix.Path(filepath.Join(e.Path, dense.IndexFile))
	qs, err := readQuestions(o.data("test.jsonl"))
	if err == nil {
		err = writeQueryVectors(ctx, r.Embedder(), qs, o.out("queries.f32"))
	}
	r.Close()
	ix.Close()
	if err != nil {
		return Row{}, err
	}
	script := o.out("faiss_ceiling.py")
	if err := os.WriteFile(script, faissCeilingPy, 0o644); err != nil {
		return Row{}, err
	}
	ids := o.out("faiss-ids.i64")
	cmd := exec.CommandContext(ctx, o.Python, script, indexFile, o.out("queries.f32"), strconv.Itoa(o.TopK), ids)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = o.Log
	u, err := run(ctx, cmd)
	row := Row{Step: "faiss-python", Usage: u, Recall: -1}
	if err != nil {
		return row, err
	}
	var res struct {
		Queries int     `json:"queries"`
		Seconds float64 `json:"seconds"`
		Load    float64 `json:"load_seconds"`
	}
	if err := json.Unmarshal([]byte(lastLine(u.Stdout)), &res); err != nil {
		return row, fmt.Errorf("faiss-python printed %q: %w", u.Stdout, err)
	}
	row.Queries = res.Queries
	if res.Seconds > 0 {
		row.QPS = float64(res.Queries) / res.Seconds
	}
	row.Note = fmt.Sprintf("read_index %.1f s", res.Load)
	row.Recall, rep.Agreement, err = faissRecall(ids, qs, o.TopK, o.out("retrieve-dense.jsonl"))
	return row, err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func readQuestions(path string) ([]schemas.Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []schemas.Query
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		q, err := schemas.DecodeQuery(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		qs = append(qs, q)
	}
	return qs, sc.Err()
}

func writeQueryVectors(ctx context.Context, emb embed.Embedder, qs []schemas.Query, path string) error {
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Question
	}
	vecs, err := emb.Embed(ctx, texts, embed.Query)
	if err != nil {
		return err
	}
	b := make([]byte, 0, 4*len(vecs)*emb.Dim())
	for _, v := range vecs {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return os.WriteFile(path, b, 0o644)
}

// goldRecall is the share of records of a retrieve output whose gold passage was returned.
func goldRecall(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	n, hits := 0, 0
	for sc.Scan() {
		var r retrieval.RetrievedRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		n++
		if slices.ContainsFunc(r.Docs, func(p schemas.Passage) bool { return slices.Contains(r.GoldDocIDs, p.ID) }) {
			hits++
		}
	}
	if n == 0 {
		return 0, sc.Err()
	}
	return float64(hits) / float64(n), sc.Err()
}

// faissRecall reads faiss-python's ids (corpus ordinals, which are the synthetic corpus's ids):
// the gold recall, and the share of them lsrflow's dense output (when present) also returned.
func faissRecall(idsPath string, qs []schemas.Query, k int, densePath string) (recall, agree float64, err error) {
	b, err := os.ReadFile(idsPath)
	if err != nil {
		return 0, -1, err
	}
	if len(b) != 8*k*len(qs) {
		return 0, -1, fmt.Errorf("%s: %d bytes for %d queries x %d", idsPath, len(b), len(qs), k)
	}
	ids := func(q int) []string {
		out := make([]string, 0, k)
		for j := range k {
			if id := int64(binary.LittleEndian.Uint64(b[8*(q*k+j):])); id >= 0 {
				out = append(out, strconv.FormatInt(id, 10))
			}
		}
		return out
	}
	hits := 0
	for q, qq := range qs {
		if slices.ContainsFunc(ids(q), func(id string) bool { return slices.Contains(qq.GoldDocIDs, id) }) {
			hits++
		}
	}
	recall = float64(hits) / float64(max(1, len(qs)))
	f, err := os.Open(densePath)
	if err != nil {
		return recall, -1, nil // dense step not run
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	same, total, q := 0, 0, 0
	for ; sc.Scan() && q < len(qs); q++ {
		var r retrieval.RetrievedRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return recall, -1, err
		}
		want := ids(q)
		total += len(want)
		for _, p := range r.Docs {
			if slices.Contains(want, p.ID) {
				same++
			}
		}
	}
	if total == 0 {
		return recall, -1, sc.Err()
	}
	return recall, float64(same) / float64(total), sc.Err()
}

func parseFloat(pattern, s string) float64 {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// disk sums the sizes of the index's parts.
func (o *Options) disk() map[string]int64 {
	d := map[string]int64{}
	for name, p := range map[string]string{
		"corpus jsonl": o.data("corpus.jsonl"),
		"docstore":     filepath.Join(o.index(), retrieval.DocstoreDir),
		"bm25":         filepath.Join(o.index(), "bm25"),
		"dense":        filepath.Join(o.index(), dense.Dir),
	} {
		if n := duBytes(p); n > 0 {
			d[name] = n
		}
	}
	// Single-file BM25 indexes sit beside the directory.
	if ents, err := os.ReadDir(o.index()); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "bm25") && !e.IsDir() {
				d["bm25"] += duBytes(filepath.Join(o.index(), e.Name()))
			}
		}
	}
	return d
}

func duBytes(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Print writes the report as one table.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "bench scale: %d passages (seed %d), %d test questions, top-%d, GOMAXPROCS=%d, %s\n",
		o.Passages, o.Seed, o.Questions, o.TopK, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.DateOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tseconds\tpeak RSS (VmHWM)\tpeak RssAnon\tpeak RssFile\tqueries/s\trecall@k\tnote\t")
	var denseQPS, faissQPS float64
	for _, row := range r.Rows {
		qps, rec := "", ""
		if row.QPS > 0 {
			qps = fmt.Sprintf("%.1f", row.QPS)
		}
		if row.Recall >= 0 {
			rec = fmt.Sprintf("%.3f", row.Recall)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Step, row.Usage.Seconds, mb(row.Usage.HWM), mb(row.Usage.Anon), mb(row.Usage.File), qps, rec, row.Note)
		switch row.Step {
		case "retrieve dense":
			denseQPS = row.QPS
		case "faiss-python":
			faissQPS = row.QPS
		}
	}
	tw.Flush()
	if len(r.Disk) > 0 {
		names := make([]string, 0, len(r.Disk))
		for n := range r.Disk {
			names = append(names, n)
		}
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %s (%.0f B/passage)", n, mb(r.Disk[n]), float64(r.Disk[n])/float64(o.Passages)))
		}
		fmt.Fprintf(w, "disk: %s\n", strings.Join(parts, ", "))
	}
	if r.Agreement >= 0 {
		fmt.Fprintf(w, "dense top-%d ids shared with faiss-python: %.4f\n", o.TopK, r.Agreement)
	}
	if denseQPS > 0 && faissQPS > 0 {
		fmt.Fprintf(w, "dense/faiss = %.2f\n", denseQPS/faissQPS)
	}
}

func mb(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}
