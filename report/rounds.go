package report

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Round is one line of a train stage's rounds.jsonl (processors/train.Round: only the fields
// the report shows). Eval and EvalDense are the candidate's gold recall on the evaluation
// questions as served and as a dense retriever alone.
type Round struct {
	Time      time.Time          `json:"time"`
	Candidate int                `json:"candidate_version"`
	Published bool               `json:"published"`
	Reason    string             `json:"reason"`
	Version   int                `json:"version"`
	Records   int                `json:"records"`
	HeldOutN  int                `json:"held_out"`
	Method    string             `json:"method"`
	HeldOut   map[string]float64 `json:"held_out_metrics"`
	Eval      map[string]float64 `json:"eval"`
	EvalDense map[string]float64 `json:"eval_dense"`
}

// roundsFiles are where a run keeps its train stage's rounds log, in order of preference.
var roundsFiles = []string{"rounds.jsonl", filepath.Join("checkpoints", "rounds.jsonl")}

func (d *Data) loadRounds(ctx context.Context, dir string) {
	for i, name := range roundsFiles {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil && i < len(roundsFiles)-1 {
			continue
		}
		d.RoundsSrc = eachLine(ctx, p, func(b []byte) bool {
			var r Round
			if json.Unmarshal(b, &r) != nil || r.Time.IsZero() {
				return false
			}
			d.Rounds = append(d.Rounds, r)
			return true
		})
		d.RoundsSrc.Path = name
		sort.SliceStable(d.Rounds, func(i, j int) bool { return d.Rounds[i].Time.Before(d.Rounds[j].Time) })
		return
	}
}

// VersionPoint is the gold recall of the version in use from a time on.
type VersionPoint struct {
	Time    time.Time
	Version int
	Recall  map[string]float64 // "<method> gold_recall@k"
}

// VersionHistory turns rounds into the recall of the version in use over time: the
// untrained version 0 (a round with candidate 0) and every published version, each from the
// time it was published. Rounds that kept the version add nothing.
func VersionHistory(rounds []Round) []VersionPoint {
	var out []VersionPoint
	for _, r := range rounds {
		if !r.Published || r.Eval == nil {
			continue
		}
		p := VersionPoint{Time: r.Time, Version: r.Candidate, Recall: map[string]float64{}}
		method := r.Method
		if method == "" {
			method = "dense"
		}
		for k, v := range r.Eval {
			if strings.HasPrefix(k, "gold_recall@") {
				p.Recall[method+" "+k] = v
			}
		}
		for k, v := range r.EvalDense {
			if strings.HasPrefix(k, "gold_recall@") {
				p.Recall["dense "+k] = v
			}
		}
		out = append(out, p)
	}
	return out
}

func (d *Data) versionSection() section {
	s := section{ID: "versions", Title: "Recall of the retriever version in use over time (live training)"}
	if note := missingNote(d.RoundsSrc, "training rounds"); note != "" {
		s.Note = note + " Run a topology with a train: section to get one."
		return s
	}
	hist := VersionHistory(d.Rounds)
	if len(hist) == 0 {
		s.Note = fmt.Sprintf("%d training rounds, none published with evaluation metrics (set train.eval_path).", len(d.Rounds))
		return s
	}
	s.Plots = append(s.Plots, template.HTML(versionSVG(hist)))
	published := 0
	for _, r := range d.Rounds {
		if r.Published && r.Candidate > 0 {
			published++
		}
	}
	s.Note = fmt.Sprintf("%d rounds, %d versions published after the untrained v0. A round publishes its candidate only when it is not worse than the version in use on held-out training queries; the evaluation questions plotted here decide nothing. Dense lines show the same adapter serving without BM25.",
		len(d.Rounds), published)
	if n := badNote(d.RoundsSrc); n != "" {
		s.Note += " " + n
	}
	t := &table{Head: []string{"time (s)", "candidate", "published", "examples", "held-out", "held-out teacher_hit@1/5/20", "served gold@1/5/20", "dense gold@1/5/20"}}
	t0 := d.Rounds[0].Time
	for _, r := range d.Rounds {
		state := "yes"
		if !r.Published {
			state = "no: " + r.Reason
		}
		t.Rows = append(t.Rows, []string{fmt.Sprintf("%.1f", r.Time.Sub(t0).Seconds()), "v" + strconv.Itoa(r.Candidate), state,
			fmt.Sprint(r.Records), fmt.Sprint(r.HeldOutN), triple(r.HeldOut, "teacher_hit@"), triple(r.Eval, "gold_recall@"), triple(r.EvalDense, "gold_recall@")})
	}
	s.Table = t
	return s
}

func triple(m map[string]float64, prefix string) string {
	if m == nil {
		return "–"
	}
	var parts []string
	for _, k := range []int{1, 5, 20} {
		v, ok := m[prefix+strconv.Itoa(k)]
		if !ok {
			return "–"
		}
		parts = append(parts, fmt.Sprintf("%.3f", v))
	}
	return strings.Join(parts, " / ")
}

// versionSVG plots each "<method> gold_recall@k" series of hist as a step line over time
// (seconds since the first point), with a marker and the version number at each publication.
func versionSVG(hist []VersionPoint) string {
	keys := map[string]bool{}
	for _, p := range hist {
		for k := range p.Recall {
			keys[k] = true
		}
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	t0 := hist[0].Time
	tEnd := hist[len(hist)-1].Time.Sub(t0).Seconds()
	xmax := max(tEnd*1.1, 1)
	lo := 1.0
	for _, p := range hist {
		for _, v := range p.Recall {
			lo = min(lo, v)
		}
	}
	ymin := max(0, float64(int(lo*10))/10-0.1)
	f := newFrame("plot-versions", "gold recall of the version in use over time", seriesColors[0], 0, xmax, ymin, 1)
	f.yAxis(5, pct, "gold recall")
	for i := 0; i <= 4; i++ {
		x := xmax * float64(i) / 4
		label := fmtDur(x)
		if xmax < 20 { // whole seconds would repeat labels
			label = fmt.Sprintf("%.1fs", x)
		}
		f.xLabel(f.X(x), label)
	}
	f.xTitle("time since the first version")
	for si, name := range names {
		c := seriesColors[si%len(seriesColors)]
		var pts []string
		prevY := -1.0
		for _, p := range hist {
			v, ok := p.Recall[name]
			if !ok {
				continue
			}
			x := f.X(p.Time.Sub(t0).Seconds())
			if prevY >= 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, prevY))
			}
			prevY = f.Y(v)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, prevY))
		}
		if len(pts) == 0 {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", f.X(xmax), prevY))
		dash := ""
		if strings.HasPrefix(name, "dense ") {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&f.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"%s/>`, strings.Join(pts, " "), c, dash)
		for _, p := range hist {
			if v, ok := p.Recall[name]; ok {
				fmt.Fprintf(&f.b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>v%d %s = %.4f</title></circle>`,
					f.X(p.Time.Sub(t0).Seconds()), f.Y(v), c, p.Version, esc(name), v)
			}
		}
		f.legend(si, c, strings.Replace(name, "gold_recall", "gold", 1))
	}
	for _, p := range hist {
		x := f.X(p.Time.Sub(t0).Seconds())
		fmt.Fprintf(&f.b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle" fill="#333">v%d</text>`, x, f.top+11, p.Version)
	}
	return f.done()
}
