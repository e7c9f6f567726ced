package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/lsrflow/lsrflow/evaluate"
)

// section is one block of the page: a title, a plot or a note, and optional table rows.
type section struct {
	ID    string
	Title string
	Plots []template.HTML
	Note  string
	Table *table
}

type table struct {
	Head []string
	Rows [][]string
}

type page struct {
	Run       string
	Generated string
	Sections  []section
}

// Render writes the page for d.
func Render(w io.Writer, d *Data) error {
	p := page{Run: d.Run, Generated: d.Generated.Format("2006-01-02 15:04:05 UTC")}
	p.Sections = append(p.Sections, d.recallSection(), d.versionSection(), d.teacherSection(), d.throughputSection(), d.deadLetterSection())
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

func missingNote(src Source, what string) string {
	switch {
	case src.Missing:
		return fmt.Sprintf("No %s in the run directory (%s not found).", what, src.Path)
	case src.Err != "":
		return fmt.Sprintf("Could not read %s: %s.", src.Path, src.Err)
	case src.Lines == 0:
		return fmt.Sprintf("%s has no usable %s (%d bad lines).", src.Path, what, src.Bad)
	}
	return ""
}

func badNote(src Source) string {
	if src.Bad == 0 {
		return ""
	}
	return fmt.Sprintf("%d bad lines of %s were skipped.", src.Bad, src.Path)
}

func (d *Data) recallSection() section {
	s := section{ID: "recall", Title: "Retrieval recall@k, before and after training"}
	if note := missingNote(d.EvalSrc, "evaluation results"); note != "" {
		s.Note = note
		return s
	}
	var series []RecallSeries
	keys := map[string]bool{}
	for _, e := range d.Evals {
		for k := range e.Agg.Metrics {
			keys[k] = true
		}
		for _, prefix := range []string{"recall@", "gold_recall@"} {
			ks, vs := RecallCurve(e.Agg, prefix)
			if len(ks) == 0 {
				continue
			}
			name := e.Label
			if prefix != "recall@" {
				name += " (gold docs)"
			}
			series = append(series, RecallSeries{Name: name, Ks: ks, Vals: vs})
		}
	}
	if len(series) > 0 {
		s.Plots = append(s.Plots, template.HTML(recallSVG(series)))
	} else {
		s.Note = "The evaluation results have no recall@k values (QA metrics only); see the table."
	}
	if n := badNote(d.EvalSrc); n != "" {
		s.Note = strings.TrimSpace(s.Note + " " + n)
	}
	t := &table{Head: []string{"metric"}}
	for _, e := range d.Evals {
		t.Head = append(t.Head, e.Label)
	}
	names := []string{"n", "bad_lines", "train_overlap"}
	var ms []string
	for k := range keys {
		ms = append(ms, k)
	}
	sort.Slice(ms, func(i, j int) bool { return naturalLess(ms[i], ms[j]) })
	names = append(names, ms...)
	for _, name := range names {
		row := []string{name}
		for _, e := range d.Evals {
			row = append(row, metricCell(e.Agg, name))
		}
		t.Rows = append(t.Rows, row)
	}
	s.Table = t
	return s
}

func metricCell(a evaluate.Aggregate, name string) string {
	switch name {
	case "n":
		return fmt.Sprint(a.N)
	case "bad_lines":
		return fmt.Sprint(a.Bad)
	case "train_overlap":
		return fmt.Sprint(a.Overlap)
	}
	v, ok := a.Metrics[name]
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.4f", v)
}

func (d *Data) teacherSection() section {
	s := section{ID: "teacher", Title: "Teacher score distributions"}
	if note := missingNote(d.TeacherSrc, "scored records"); note != "" {
		s.Note = note
		return s
	}
	t := d.Teacher
	if len(t.Entropy) == 0 {
		s.Note = fmt.Sprintf("%d scored records, none with two or more passages.", t.Records)
		return s
	}
	s.Plots = append(s.Plots,
		template.HTML(histogramSVG("plot-entropy", "normalized teacher entropy", "entropy H / log k (1 = uniform, 0 = one passage)", entropyColor, t.Entropy, 20)),
		template.HTML(histogramSVG("plot-maxprob", "teacher max probability", "largest passage probability", maxProbColor, t.MaxProb, 20)))
	var methods []string
	for m, n := range t.Methods {
		methods = append(methods, fmt.Sprintf("%s: %d", m, n))
	}
	sort.Strings(methods)
	s.Note = fmt.Sprintf("%d records (%s); %d without any answer-bearing passage. A teacher near entropy 1 barely distinguishes passages.",
		t.Records, strings.Join(methods, ", "), t.NoPositive)
	if n := badNote(d.TeacherSrc); n != "" {
		s.Note += " " + n
	}
	return s
}

func (d *Data) throughputSection() section {
	s := section{ID: "throughput", Title: "Throughput over time"}
	if note := missingNote(d.MetricsSrc, "stage metrics"); note != "" {
		s.Note = note
		return s
	}
	tps := Throughputs(d.Samples)
	points := 0
	for _, tp := range tps {
		points += len(tp.Rates)
	}
	if points == 0 {
		s.Note = "metrics.jsonl needs at least two samples per stage to show a rate."
		return s
	}
	s.Plots = append(s.Plots, template.HTML(throughputSVG(tps)))
	t := &table{Head: []string{"stage", "in", "out", "dead letters"}}
	last := map[string]Sample{}
	for _, smp := range d.Samples {
		if l, ok := last[smp.Stage]; !ok || !smp.Time.Before(l.Time) {
			last[smp.Stage] = smp
		}
	}
	for _, tp := range tps {
		l := last[tp.Stage]
		t.Rows = append(t.Rows, []string{tp.Stage, fmt.Sprintf("%.0f", l.In), fmt.Sprintf("%.0f", l.Out), fmt.Sprintf("%.0f", l.DeadLetters)})
	}
	s.Table = t
	s.Note = badNote(d.MetricsSrc)
	return s
}

func (d *Data) deadLetterSection() section {
	s := section{ID: "deadletters", Title: "Dead letters by stage and reason"}
	if d.DLSrc.Missing {
		s.Note = "No dead-letters.jsonl in the run directory: nothing was dead-lettered, or the run did not record them."
		return s
	}
	if note := missingNote(d.DLSrc, "dead letters"); note != "" {
		s.Note = note
		return s
	}
	s.Plots = append(s.Plots, template.HTML(deadLetterSVG(d.DeadLetters)))
	t := &table{Head: []string{"stage", "reason", "count"}}
	for _, c := range d.DeadLetters {
		t.Rows = append(t.Rows, []string{c.Stage, c.Reason, fmt.Sprint(c.Count)})
	}
	s.Table = t
	s.Note = badNote(d.DLSrc)
	return s
}

var pageTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lsrflow run report</title>
<script>
// Page-level error collector: errors are kept in the DOM (#diag) for headless checks.
window.__lsrErrors = [];
window.addEventListener("error", function (e) { window.__lsrErrors.push(String(e.message)); });
</script>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fff; max-width: 1360px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.note { color: #444; font-size: 13px; margin: 6px 0; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
#diag { display: none; }
</style>
</head>
<body>
<h1>lsrflow run report</h1>
<div class="meta">run directory <code>{{.Run}}</code> · generated {{.Generated}}</div>
{{range .Sections}}
<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{if .Plots}}<div class="plots">{{range .Plots}}{{.}}{{end}}</div>{{end}}
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{with .Table}}<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>{{end}}
</section>
{{end}}
<pre id="diag"></pre>
<script>
(function () {
  var out = { errors: window.__lsrErrors, plots: {} };
  document.querySelectorAll("svg.plot").forEach(function (s) {
    var r = s.getBoundingClientRect();
    out.plots[s.id] = { x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height, color: s.getAttribute("data-color") };
  });
  document.getElementById("diag").textContent = JSON.stringify(out);
})();
</script>
</body>
</html>
`))

// naturalLess orders "recall@5" before "recall@20": digit runs compare as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			if len(da) != len(db) {
				return len(da) < len(db)
			}
			if da != db {
				return da < db
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
