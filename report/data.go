package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/schemas"
)

// Eval is one evaluation aggregate.
type Eval struct {
	File  string
	Label string
	Agg   evaluate.Aggregate
}

// Sample is one metrics.jsonl line.
type Sample struct {
	Time        time.Time `json:"time"`
	Stage       string    `json:"stage"`
	In          float64   `json:"in"`
	Out         float64   `json:"out"`
	DeadLetters float64   `json:"dead_letters"`
}

// Teacher summarizes the teacher distributions of scored.jsonl.
type Teacher struct {
	Records    int
	Entropy    []float64 // normalized entropy per record
	MaxProb    []float64
	Methods    map[string]int // teacher method -> records
	NoPositive int            // records with NumRelevant == 0
}

// DeadLetterCount is the number of dead letters of one (stage, reason).
type DeadLetterCount struct {
	Stage, Reason string
	Count         int
}

// Section status: what happened when reading one file.
type Source struct {
	Path    string
	Missing bool
	Err     string
	Lines   int
	Bad     int
}

// Data is everything the page shows.
type Data struct {
	Run         string
	Generated   time.Time
	Evals       []Eval
	EvalSrc     Source
	Teacher     Teacher
	TeacherSrc  Source
	Samples     []Sample
	MetricsSrc  Source
	DeadLetters []DeadLetterCount
	DLSrc       Source
	Rounds      []Round
	RoundsSrc   Source
}

// Load reads the run directory. It fails only when dir itself cannot be read.
func Load(ctx context.Context, dir string) (*Data, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run directory %s is not a directory", dir)
	}
	d := &Data{Run: dir, Generated: time.Now().UTC()}
	d.loadEvals(dir)
	d.loadRounds(ctx, dir)
	d.TeacherSrc = eachLine(ctx, filepath.Join(dir, "scored.jsonl"), func(b []byte) bool {
		s, err := schemas.DecodeScored(b)
		if err != nil {
			return false
		}
		d.Teacher.add(s)
		return true
	})
	d.MetricsSrc = eachLine(ctx, filepath.Join(dir, "metrics.jsonl"), func(b []byte) bool {
		var s Sample
		if json.Unmarshal(b, &s) != nil || s.Stage == "" || s.Time.IsZero() {
			return false
		}
		d.Samples = append(d.Samples, s)
		return true
	})
	counts := map[[2]string]int{}
	d.DLSrc = eachLine(ctx, filepath.Join(dir, "dead-letters.jsonl"), func(b []byte) bool {
		dl, err := schemas.DecodeDeadLetter(b)
		if err != nil {
			return false
		}
		counts[[2]string{dl.Stage, dl.Reason}]++
		return true
	})
	for k, n := range counts {
		d.DeadLetters = append(d.DeadLetters, DeadLetterCount{Stage: k[0], Reason: k[1], Count: n})
	}
	sort.Slice(d.DeadLetters, func(i, j int) bool {
		a, b := d.DeadLetters[i], d.DeadLetters[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Stage+a.Reason < b.Stage+b.Reason
	})
	return d, ctx.Err()
}

func (t *Teacher) add(s schemas.Scored) {
	if t.Methods == nil {
		t.Methods = map[string]int{}
	}
	t.Records++
	t.Methods[s.Teacher.Method]++
	if s.NumRelevant == 0 && len(s.AnswerMatch) > 0 {
		t.NoPositive++
	}
	k := len(s.Scores)
	if k < 2 {
		return
	}
	h, mx := 0.0, 0.0
	for _, p := range s.Scores {
		if p > 0 {
			h -= p * math.Log(p)
		}
		mx = max(mx, p)
	}
	t.Entropy = append(t.Entropy, min(max(h/math.Log(float64(k)), 0), 1))
	t.MaxProb = append(t.MaxProb, min(mx, 1))
}

// eachLine calls fn on each non-blank line of path; fn reports whether the line was good.
func eachLine(ctx context.Context, path string, fn func([]byte) bool) Source {
	src := Source{Path: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		src.Missing = errors.Is(err, fs.ErrNotExist)
		if !src.Missing {
			src.Err = err.Error()
		}
		return src
	}
	defer f.Close()
	lr := schemas.NewLineReader(f, 64<<20)
	for ctx.Err() == nil {
		line, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			src.Err = err.Error()
			break
		}
		if line.Err == nil && fn(line.Bytes) {
			src.Lines++
		} else {
			src.Bad++
		}
	}
	return src
}

func (d *Data) loadEvals(dir string) {
	d.EvalSrc = Source{Path: "eval-*.json"}
	paths, _ := filepath.Glob(filepath.Join(dir, "eval-*.json"))
	if len(paths) == 0 {
		d.EvalSrc.Missing = true
		return
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			d.EvalSrc.Bad++
			continue
		}
		agg, ok := lastObject(b)
		if !ok {
			d.EvalSrc.Bad++
			continue
		}
		d.EvalSrc.Lines++
		label := agg.Label
		if label == "" {
			label = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "eval-"), ".json")
		}
		d.Evals = append(d.Evals, Eval{File: filepath.Base(p), Label: label, Agg: agg})
	}
	rank := func(l string) int {
		switch l {
		case "before":
			return 0
		case "after":
			return 1
		}
		return 2
	}
	sort.SliceStable(d.Evals, func(i, j int) bool {
		ri, rj := rank(d.Evals[i].Label), rank(d.Evals[j].Label)
		if ri != rj {
			return ri < rj
		}
		return d.Evals[i].Label < d.Evals[j].Label
	})
}

// lastObject returns the last line of b that parses as an aggregate object.
func lastObject(b []byte) (evaluate.Aggregate, bool) {
	var found evaluate.Aggregate
	ok := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 16<<20)
	var whole bytes.Buffer
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		whole.Write(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var a evaluate.Aggregate
		if json.Unmarshal(line, &a) == nil {
			found, ok = a, true
		}
	}
	if !ok { // a pretty-printed object spans lines
		var a evaluate.Aggregate
		if json.Unmarshal(whole.Bytes(), &a) == nil {
			return a, true
		}
	}
	return found, ok
}

// RecallCurve returns the (k, value) points of a metric prefix ("recall@" or "gold_recall@").
func RecallCurve(a evaluate.Aggregate, prefix string) (ks []int, vs []float64) {
	for key, v := range a.Metrics {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		k, err := strconv.Atoi(strings.TrimPrefix(key, prefix))
		if err != nil || k <= 0 || math.IsNaN(v) {
			continue
		}
		ks = append(ks, k)
	}
	sort.Ints(ks)
	for _, k := range ks {
		vs = append(vs, a.Metrics[prefix+strconv.Itoa(k)])
	}
	return ks, vs
}

// Throughput is one stage's output rate over time.
type Throughput struct {
	Stage  string
	Times  []time.Time // end of each interval
	Rates  []float64   // records/s published in the interval
	Breaks []bool      // true where a counter reset starts a new segment
}

// Throughputs derives per-stage rates from cumulative samples.
func Throughputs(samples []Sample) []Throughput {
	by := map[string][]Sample{}
	for _, s := range samples {
		by[s.Stage] = append(by[s.Stage], s)
	}
	var out []Throughput
	for stage, ss := range by {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].Time.Before(ss[j].Time) })
		tp := Throughput{Stage: stage}
		brk := false
		for i := 1; i < len(ss); i++ {
			dt := ss[i].Time.Sub(ss[i-1].Time).Seconds()
			dOut := ss[i].Out - ss[i-1].Out
			if dt <= 0 {
				continue
			}
			if dOut < 0 { // restart: counters start again
				brk = true
				continue
			}
			tp.Times = append(tp.Times, ss[i].Time)
			tp.Rates = append(tp.Rates, dOut/dt)
			tp.Breaks = append(tp.Breaks, brk)
			brk = false
		}
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stage < out[j].Stage })
	return out
}
