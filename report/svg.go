package report

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// Plot colours. Each plot's data marks use colours no other element of the page uses, so a
// screenshot can tell drawn data from axes and text.
var seriesColors = []string{"#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

const (
	entropyColor = "#2ca02c"
	maxProbColor = "#17becf"
	deadColor    = "#d62728"
)

const (
	plotW, plotH                   = 640, 300
	marginL, marginR, marginT, mgB = 56, 16, 16, 44
)

type frame struct {
	b                      strings.Builder
	x0, x1, y0, y1         float64 // data ranges
	left, right, top, bott float64 // pixel box
	// header is the opening <svg> tag without its height; done() adds the height, which grows
	// by one row per legend line so the legend sits under the plot, never over the data.
	id, title, color string
	legendRows       int
}

func newFrame(id, title, color string, x0, x1, y0, y1 float64) *frame {
	f := &frame{x0: x0, x1: x1, y0: y0, y1: y1, left: marginL, right: plotW - marginR, top: marginT, bott: plotH - mgB}
	if f.x1 <= f.x0 {
		f.x1 = f.x0 + 1
	}
	if f.y1 <= f.y0 {
		f.y1 = f.y0 + 1
	}
	f.id, f.title, f.color = id, title, color
	fmt.Fprintf(&f.b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fafafa" stroke="#bbb"/>`, f.left, f.top, f.right-f.left, f.bott-f.top)
	return f
}

func (f *frame) X(v float64) float64 { return f.left + (v-f.x0)/(f.x1-f.x0)*(f.right-f.left) }
func (f *frame) Y(v float64) float64 { return f.bott - (v-f.y0)/(f.y1-f.y0)*(f.bott-f.top) }

// yAxis draws horizontal grid lines and labels at n+1 even steps.
func (f *frame) yAxis(n int, format func(float64) string, label string) {
	for i := 0; i <= n; i++ {
		v := f.y0 + (f.y1-f.y0)*float64(i)/float64(n)
		y := f.Y(v)
		fmt.Fprintf(&f.b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, f.left, f.right, y, y)
		fmt.Fprintf(&f.b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#333">%s</text>`, f.left-4, y+4, esc(format(v)))
	}
	fmt.Fprintf(&f.b, `<text x="12" y="%g" font-size="11" fill="#333" transform="rotate(-90 12 %g)" text-anchor="middle">%s</text>`,
		(f.top+f.bott)/2, (f.top+f.bott)/2, esc(label))
}

func (f *frame) xLabel(x float64, s string) {
	fmt.Fprintf(&f.b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle" fill="#333">%s</text>`, x, f.bott+15, esc(s))
}

func (f *frame) xTitle(s string) {
	fmt.Fprintf(&f.b, `<text x="%g" y="%g" font-size="11" text-anchor="middle" fill="#333">%s</text>`, (f.left+f.right)/2, f.bott+34, esc(s))
}

const legendPerRow, legendColW, legendRowH = 3, 190, 18

// legend places entry i below the x-axis title, legendPerRow entries per row.
func (f *frame) legend(i int, color, name string) {
	row := i / legendPerRow
	x := f.left + float64(i%legendPerRow)*legendColW
	y := float64(plotH) + 14 + float64(row)*legendRowH
	f.legendRows = max(f.legendRows, row+1)
	fmt.Fprintf(&f.b, `<rect x="%g" y="%g" width="12" height="12" fill="%s"/><text x="%g" y="%g" font-size="12" fill="#222">%s</text>`,
		x, y-10, color, x+16, y, esc(name))
}

func (f *frame) done() string {
	h := plotH + 10 + f.legendRows*legendRowH
	return fmt.Sprintf(`<svg class="plot" id="%s" data-color="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		f.id, f.color, plotW, h, plotW, h, esc(f.title)) + f.b.String() + `</svg>`
}

func esc(s string) string { return html.EscapeString(s) }

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }

// RecallSeries is one line of the recall plot.
type RecallSeries struct {
	Name string
	Ks   []int
	Vals []float64
}

// recallSVG plots recall@k against k (log-spaced positions: k values are placed at even
// steps in the order they appear, labelled with k).
func recallSVG(series []RecallSeries) string {
	kset := map[int]bool{}
	for _, s := range series {
		for _, k := range s.Ks {
			kset[k] = true
		}
	}
	var ks []int
	for k := range kset {
		ks = append(ks, k)
	}
	sortInts(ks)
	pos := map[int]float64{}
	for i, k := range ks {
		pos[k] = float64(i)
	}
	f := newFrame("plot-recall", "recall@k per evaluation", seriesColors[0], -0.5, float64(len(ks))-0.5, 0, 1)
	f.yAxis(5, pct, "recall")
	for _, k := range ks {
		f.xLabel(f.X(pos[k]), fmt.Sprint(k))
	}
	f.xTitle("k (passages)")
	for si, s := range series {
		c := seriesColors[si%len(seriesColors)]
		var pts []string
		for i, k := range s.Ks {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", f.X(pos[k]), f.Y(s.Vals[i])))
		}
		fmt.Fprintf(&f.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="3"/>`, strings.Join(pts, " "), c)
		for i, k := range s.Ks {
			fmt.Fprintf(&f.b, `<circle cx="%.1f" cy="%.1f" r="6" fill="%s"><title>%s recall@%d = %.4f</title></circle>`,
				f.X(pos[k]), f.Y(s.Vals[i]), c, esc(s.Name), k, s.Vals[i])
		}
		f.legend(si, c, s.Name)
	}
	return f.done()
}

// histogramSVG draws a histogram of values in [0, 1] with bins bins.
func histogramSVG(id, title, xlabel, color string, vals []float64, bins int) string {
	counts := make([]int, bins)
	for _, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		i := int(v * float64(bins))
		counts[min(max(i, 0), bins-1)]++
	}
	hi := 1
	for _, c := range counts {
		hi = max(hi, c)
	}
	f := newFrame(id, title, color, 0, 1, 0, float64(niceCeil(hi)))
	f.yAxis(4, func(v float64) string { return fmt.Sprintf("%.0f", v) }, "records")
	for i := 0; i <= 10; i += 2 {
		f.xLabel(f.X(float64(i)/10), fmt.Sprintf("%.1f", float64(i)/10))
	}
	f.xTitle(xlabel)
	w := (f.right - f.left) / float64(bins)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		x := f.X(float64(i) / float64(bins))
		y := f.Y(float64(c))
		fmt.Fprintf(&f.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%.2f–%.2f: %d</title></rect>`,
			x+1, y, w-2, f.bott-y, color, float64(i)/float64(bins), float64(i+1)/float64(bins), c)
	}
	return f.done()
}

// throughputSVG draws records/s per stage over time.
func throughputSVG(tps []Throughput) string {
	var t0, t1 time.Time
	hi := 0.0
	for _, tp := range tps {
		for i, t := range tp.Times {
			if t0.IsZero() || t.Before(t0) {
				t0 = t
			}
			if t.After(t1) {
				t1 = t
			}
			hi = max(hi, tp.Rates[i])
		}
	}
	span := t1.Sub(t0).Seconds()
	f := newFrame("plot-throughput", "throughput per stage", seriesColors[0], 0, span, 0, niceCeilF(hi))
	f.yAxis(4, func(v float64) string { return fmt.Sprintf("%.3g", v) }, "records/s out")
	for i := 0; i < 4; i++ {
		s := span * float64(i) / 4
		f.xLabel(f.X(s), fmtDur(s))
	}
	fmt.Fprintf(&f.b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#333">%s</text>`, f.right, f.bott+15, esc(fmtDur(span)))
	f.xTitle("time since " + t0.Format("2006-01-02 15:04:05Z07:00"))
	for si, tp := range tps {
		c := seriesColors[si%len(seriesColors)]
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(&f.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="3"/>`, strings.Join(seg, " "), c)
			}
			seg = nil
		}
		for i, t := range tp.Times {
			if tp.Breaks[i] {
				flush()
			}
			x, y := f.X(t.Sub(t0).Seconds()), f.Y(tp.Rates[i])
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&f.b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s %s: %.3g/s</title></circle>`,
				x, y, c, esc(tp.Stage), t.Format(time.RFC3339), tp.Rates[i])
		}
		flush()
		f.legend(si, c, tp.Stage)
	}
	return f.done()
}

// deadLetterSVG draws horizontal bars per (stage, reason), at most 12.
func deadLetterSVG(counts []DeadLetterCount) string {
	if len(counts) > 12 {
		counts = counts[:12]
	}
	hi := 1
	for _, c := range counts {
		hi = max(hi, c.Count)
	}
	f := &frame{left: 200, right: plotW - marginR, top: marginT, bott: plotH - mgB, x0: 0, x1: float64(niceCeil(hi)), y0: 0, y1: 1,
		id: "plot-deadletters", title: "dead letters", color: deadColor}
	fmt.Fprintf(&f.b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fafafa" stroke="#bbb"/>`, f.left, f.top, f.right-f.left, f.bott-f.top)
	steps := min(4, int(f.x1)) // counts are whole numbers: no repeated, rounded tick labels
	for i := 0; i <= steps; i++ {
		v := f.x1 * float64(i) / float64(steps)
		x := f.X(v)
		fmt.Fprintf(&f.b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#ddd"/>`, x, x, f.top, f.bott)
		f.xLabel(x, fmt.Sprintf("%.0f", v))
	}
	f.xTitle("dead letters")
	rowH := (f.bott - f.top) / float64(max(len(counts), 1))
	for i, c := range counts {
		y := f.top + float64(i)*rowH
		fmt.Fprintf(&f.b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#222">%s</text>`, f.left-6, y+rowH/2+4, esc(c.Stage+" / "+c.Reason))
		fmt.Fprintf(&f.b, `<rect x="%g" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s / %s: %d</title></rect>`,
			f.left, y+rowH*0.15, f.X(float64(c.Count))-f.left, rowH*0.7, deadColor, esc(c.Stage), esc(c.Reason), c.Count)
	}
	return f.done()
}

func fmtDur(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int { return int(niceCeilF(float64(n))) }

func niceCeilF(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
