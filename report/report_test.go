package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// writeRun fills dir with every file the report reads.
func writeRun(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, lines ...string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("eval-before.json", `{"kind":"retrieval","label":"before","n":100,"bad_lines":0,"train_overlap":0,"n_gold":0,"recall@1":0.31,"recall@5":0.55,"recall@20":0.71,"mrr":0.42}`)
	write("eval-after.json", "lsrflow eval: some stderr text that ended up here",
		`{"kind":"retrieval","n":100,"bad_lines":1,"train_overlap":0,"n_gold":0,"recall@1":0.38,"recall@5":0.61,"recall@20":0.74,"mrr":0.49}`)
	rng := rand.New(rand.NewPCG(5, 6))
	var scored []string
	for i := range 200 {
		k := 5
		raw := make([]float64, k)
		sum := 0.0
		sharp := 1 + rng.Float64()*6
		for j := range raw {
			raw[j] = math.Exp(sharp * rng.NormFloat64())
			sum += raw[j]
		}
		for j := range raw {
			raw[j] /= sum
		}
		s := schemas.Scored{SchemaVersion: 1, ID: fmt.Sprintf("q%d", i), Query: "q", Pos: make([]string, k), Scores: raw,
			PassageIDs: make([]string, k), RetrieverScores: make([]float64, k), TeacherScores: make([]float64, k),
			Teacher: schemas.TeacherIdentity{Method: "lsr"}}
		b, _ := json.Marshal(s)
		scored = append(scored, string(b))
	}
	scored = append(scored, `{"broken`)
	write("scored.jsonl", scored...)
	var metrics []string
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 30 {
		for si, st := range []string{"retrieve", "teach"} {
			out := float64(i*i*(si+1)) + float64(i*40)
			metrics = append(metrics, fmt.Sprintf(`{"time":%q,"stage":%q,"in":%g,"out":%g,"dead_letters":%d}`,
				t0.Add(time.Duration(i)*10*time.Second).Format(time.RFC3339), st, out+3, out, i/5))
		}
	}
	write("metrics.jsonl", metrics...)
	var dls []string
	for i, r := range []string{"broken_json", "broken_json", "missing_question", "lm_timeout", "broken_json"} {
		stage := "retrieve"
		if r == "lm_timeout" {
			stage = "teach"
		}
		b, _ := json.Marshal(schemas.DeadLetter{SchemaVersion: 1, Stage: stage, Reason: r, Payload: []byte(fmt.Sprint(i))})
		dls = append(dls, string(b))
	}
	write("dead-letters.jsonl", dls...)
	round := func(sec, cand int, pub bool, r1, d1 float64) string {
		b, _ := json.Marshal(map[string]any{"time": t0.Add(time.Duration(sec) * time.Second), "candidate_version": cand, "published": pub,
			"method": "hybrid", "records": 30 * cand, "held_out": 4 * cand, "held_out_metrics": map[string]float64{"teacher_hit@1": 0.5, "teacher_hit@5": 0.7, "teacher_hit@20": 0.9},
			"eval":       map[string]float64{"gold_recall@1": r1, "gold_recall@5": r1 + 0.1, "gold_recall@20": r1 + 0.15},
			"eval_dense": map[string]float64{"gold_recall@1": d1, "gold_recall@5": d1 + 0.1, "gold_recall@20": d1 + 0.2}})
		return string(b)
	}
	write("rounds.jsonl", round(0, 0, true, 0.6, 0.4), round(20, 1, true, 0.66, 0.45), round(40, 2, false, 0.6, 0.5),
		`{"time": "not a time"}`, round(60, 2, true, 0.7, 0.48))
}

func render(t *testing.T, dir string) string {
	t.Helper()
	d, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadComputesStatistics(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir)
	d, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Evals) != 2 || d.Evals[0].Label != "before" || d.Evals[1].Label != "after" {
		t.Fatalf("evals %+v", d.Evals)
	}
	ks, vs := RecallCurve(d.Evals[1].Agg, "recall@")
	if fmt.Sprint(ks) != "[1 5 20]" || vs[2] != 0.74 {
		t.Errorf("curve %v %v", ks, vs)
	}
	if d.Teacher.Records != 200 || d.TeacherSrc.Bad != 1 || len(d.Teacher.Entropy) != 200 {
		t.Errorf("teacher %+v src %+v", d.Teacher.Records, d.TeacherSrc)
	}
	// Uniform distribution over 4 has normalized entropy 1 and max probability 0.25.
	var tt Teacher
	tt.add(schemas.Scored{Scores: []float64{0.25, 0.25, 0.25, 0.25}})
	tt.add(schemas.Scored{Scores: []float64{1, 0}})
	if math.Abs(tt.Entropy[0]-1) > 1e-12 || tt.MaxProb[0] != 0.25 || tt.Entropy[1] != 0 || tt.MaxProb[1] != 1 {
		t.Errorf("entropy %v maxprob %v", tt.Entropy, tt.MaxProb)
	}
	tps := Throughputs(d.Samples)
	if len(tps) != 2 || tps[0].Stage != "retrieve" || len(tps[0].Rates) != 29 {
		t.Fatalf("throughputs %+v", tps)
	}
	// out(i) = i^2 + 40 i for retrieve: rate between i=1 and i=2 is (12-... )/10 s.
	if want := (float64(4+80) - float64(1+40)) / 10; math.Abs(tps[0].Rates[1]-want) > 1e-9 {
		t.Errorf("rate %v want %v", tps[0].Rates[1], want)
	}
	if d.DeadLetters[0] != (DeadLetterCount{"retrieve", "broken_json", 3}) {
		t.Errorf("dead letters %+v", d.DeadLetters)
	}
	// versions: v0, v1 and v2 published (the unpublished candidate adds no point)
	if len(d.Rounds) != 4 || d.RoundsSrc.Bad != 1 {
		t.Fatalf("rounds %d, bad %d", len(d.Rounds), d.RoundsSrc.Bad)
	}
	h := VersionHistory(d.Rounds)
	if len(h) != 3 || h[1].Version != 1 || h[2].Version != 2 || h[2].Recall["hybrid gold_recall@1"] != 0.7 || math.Abs(h[0].Recall["dense gold_recall@20"]-0.6) > 1e-12 {
		t.Errorf("history %+v", h)
	}
}

func TestThroughputRestart(t *testing.T) {
	t0 := time.Unix(0, 0)
	tps := Throughputs([]Sample{{Time: t0, Stage: "s", Out: 10}, {Time: t0.Add(time.Second), Stage: "s", Out: 20},
		{Time: t0.Add(2 * time.Second), Stage: "s", Out: 1}, {Time: t0.Add(3 * time.Second), Stage: "s", Out: 5}})
	if fmt.Sprint(tps[0].Rates) != "[10 4]" || fmt.Sprint(tps[0].Breaks) != "[false true]" {
		t.Errorf("%+v", tps[0])
	}
}

func TestMissingAndBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	html, err := os.ReadFile(render(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"eval-*.json not found", "scored.jsonl not found", "metrics.jsonl not found", "No dead-letters.jsonl", "rounds.jsonl not found"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("empty run: page lacks %q", want)
		}
	}
	if strings.Contains(string(html), "<svg") {
		t.Error("empty run drew a plot")
	}
	for _, name := range []string{"scored.jsonl", "metrics.jsonl", "dead-letters.jsonl", "eval-x.json", "rounds.jsonl"} {
		_ = os.WriteFile(filepath.Join(dir, name), []byte("{not json\n\x00\xff\n[]\n"), 0o644)
	}
	if _, err := os.ReadFile(render(t, dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.Context(), filepath.Join(dir, "nope")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestEscapesUserText(t *testing.T) {
	dir := t.TempDir()
	b, _ := json.Marshal(schemas.DeadLetter{SchemaVersion: 1, Stage: "<script>alert(1)</script>", Reason: "x&y"})
	_ = os.WriteFile(filepath.Join(dir, "dead-letters.jsonl"), b, 0o644)
	html, _ := os.ReadFile(render(t, dir))
	if strings.Contains(string(html), "<script>alert(1)") {
		t.Error("stage name was not escaped")
	}
}

// chromium runs Debian's headless chromium with a fresh profile and returns its stdout and
// stderr.
func chromium(t *testing.T, args ...string) (string, string) {
	t.Helper()
	bin := "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing (%v): run `scripts/setup.sh apt`", bin, err)
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--window-size=1400,3000", "--force-device-scale-factor=1", "--hide-scrollbars"}
	cmd := exec.CommandContext(t.Context(), bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

type layout struct {
	Errors []string `json:"errors"`
	Plots  map[string]struct {
		X, Y, W, H float64
		Color      string
	} `json:"plots"`
}

var consoleError = regexp.MustCompile(`(?i)(CONSOLE.*(error|uncaught)|Uncaught |Refused to|net::ERR_)`)

// TestRendersInChromium loads the report in headless chromium: no console or page errors,
// every plot present, and in a screenshot each plot region holds pixels of its data colour.
func TestRendersInChromium(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir)
	page := render(t, dir)
	url := "file://" + page

	dom, logs := chromium(t, "--dump-dom", url)
	if m := consoleError.FindString(logs); m != "" {
		t.Errorf("chromium reported an error: %q\n%s", m, logs)
	}
	m := regexp.MustCompile(`<pre id="diag">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no diagnostics in the DOM:\n%.2000s", dom)
	}
	var lay layout
	if err := json.Unmarshal([]byte(strings.NewReplacer("&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(m[1])), &lay); err != nil {
		t.Fatalf("diagnostics %q: %v", m[1], err)
	}
	if len(lay.Errors) > 0 {
		t.Errorf("page errors: %v", lay.Errors)
	}
	for _, id := range []string{"plot-recall", "plot-versions", "plot-entropy", "plot-maxprob", "plot-throughput", "plot-deadletters"} {
		if _, ok := lay.Plots[id]; !ok {
			t.Errorf("plot %s missing (have %v)", id, lay.Plots)
		}
	}

	shot := filepath.Join(t.TempDir(), "shot.png")
	chromium(t, "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for id, p := range lay.Plots {
		r := image.Rect(int(p.X), int(p.Y), int(p.X+p.W), int(p.Y+p.H)).Intersect(img.Bounds())
		if r.Dx() < 100 || r.Dy() < 100 {
			t.Errorf("%s: region %v is off screen (image %v)", id, r, img.Bounds())
			continue
		}
		var want [3]uint32
		fmt.Sscanf(p.Color, "#%02x%02x%02x", &want[0], &want[1], &want[2])
		nonBG, data := 0, 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				c := [3]uint32{cr >> 8, cg >> 8, cb >> 8}
				if c != [3]uint32{255, 255, 255} && c != [3]uint32{0xfa, 0xfa, 0xfa} {
					nonBG++
				}
				if near(c, want) {
					data++
				}
			}
		}
		t.Logf("%s: %d non-background pixels, %d of data colour %s in %v", id, nonBG, data, p.Color, r)
		if data < 300 {
			t.Errorf("%s: only %d pixels of its data colour %s: plot not drawn", id, data, p.Color)
		}
	}
}

func near(a, b [3]uint32) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -6 || d > 6 {
			return false
		}
	}
	return true
}
