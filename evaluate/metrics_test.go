package evaluate

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
)

const python = "/usr/bin/python3"

// pyRef runs the independent CPython reference (textnorm/testdata/pyref.py).
func pyRef(t *testing.T, req, resp any) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing (%v): run `scripts/setup.sh apt`", python, err)
	}
	script := filepath.Join(testenv.RepoRoot(t), "textnorm", "testdata", "pyref.py")
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyref.py: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatalf("pyref.py output: %v", err)
	}
}

type qaCase struct {
	name   string
	pred   string
	golden []string
}

// trickyQA are the cases the issue asks for: articles, punctuation, Unicode case and word
// boundaries, whitespace, multiple gold answers, and the yes/no/noanswer rule.
var trickyQA = []qaCase{
	{"article removed", "The Eiffel Tower", []string{"Eiffel Tower"}},
	{"article only at word boundary", "Theodore Roosevelt", []string{"odore Roosevelt"}},
	{"an inside word", "Anne Frank", []string{"Frank"}},
	{"a between words", "a a a", []string{""}},
	{"accented letter blocks boundary", "éthe end", []string{"éthe end"}},
	{"accent then article", "é the end", []string{"é end"}},
	{"combining mark is not a word char", "the\u0301 end", []string{"\u0301 end"}},
	{"precomposed vs combining differ", "café", []string{"cafe\u0301"}},
	{"ascii punctuation dropped", "U.S.A.!", []string{"usa"}},
	{"unicode punctuation kept", "¿Qué?", []string{"qué"}},
	{"em dash kept", "rock—roll", []string{"rock roll"}},
	{"curly quote kept", "Rock ’n’ Roll", []string{"rock n roll"}},
	{"underscore is punctuation", "snake_case", []string{"snakecase"}},
	{"hyphen joins tokens", "Jean-Paul Sartre", []string{"Jean Paul Sartre"}},
	{"final sigma", "ΟΔΟΣ", []string{"οδος"}},
	{"final sigma exact", "ΟΔΟΣ", []string{"οδος"}},
	{"non-final sigma", "ΣΑΣ", []string{"σας"}},
	{"dotted capital I", "İstanbul", []string{"istanbul"}},
	{"dotted capital I vs combining", "İstanbul", []string{"i\u0307stanbul"}},
	{"kelvin sign lowers to k", "\u212a2", []string{"k2"}},
	{"german sharp s lower", "STRAẞE", []string{"straße"}},
	{"nbsp is whitespace", "New\u00a0York", []string{"new york"}},
	{"ideographic space", "東京\u3000タワー", []string{"東京 タワー"}},
	{"zero width space is not", "New\u200bYork", []string{"new york"}},
	{"tabs and newlines", "\tNew\n York \r\n", []string{"new york"}},
	{"multiple gold, second matches", "Paris", []string{"London", "paris", "Rome"}},
	{"multiple gold, best f1", "the city of paris france", []string{"paris", "paris france"}},
	{"token f1 partial", "Barack Obama Jr", []string{"Barack Hussein Obama"}},
	{"duplicate tokens counted once each", "paris paris paris", []string{"paris"}},
	{"yes vs yes", "Yes.", []string{"yes"}},
	{"yes vs no", "yes", []string{"no"}},
	{"yes vs sentence containing yes", "yes", []string{"yes indeed"}},
	{"prediction sentence vs yes gold", "yes it is", []string{"yes"}},
	{"noanswer vs no", "noanswer", []string{"no answer"}},
	{"no answer two tokens", "No answer", []string{"no answer"}},
	{"substring acc", "It was built in 1889 by Eiffel", []string{"1889"}},
	{"acc is substring not token", "18890", []string{"1889"}},
	{"empty prediction", "", []string{"anything"}},
	{"empty gold answer", "something", []string{""}},
	{"no gold answers", "something", nil},
	{"punctuation-only gold", "!!!", []string{"?"}},
	{"digits of other scripts", "٣ apples", []string{"3 apples"}},
	{"roman numeral letter-number", "Ⅻ the", []string{"ⅻ"}},
	{"circled letter case", "Ⓐ", []string{"ⓐ"}},
	{"title case digraph", "ǅ", []string{"ǆ"}},
	{"arabic article untouched", "ال the", []string{"ال"}},
	{"the at end", "over the", []string{"over"}},
	{"THE upper", "THE END", []string{"end"}},
}

type pyQA struct {
	EM, F1, Acc, Precision, Recall float64
	Norm                           string
}

func TestTrickyCasesAgainstPython(t *testing.T) {
	if len(trickyQA) < 30 {
		t.Fatalf("only %d cases", len(trickyQA))
	}
	items := make([]map[string]any, len(trickyQA))
	for i, c := range trickyQA {
		g := c.golden
		if g == nil {
			g = []string{}
		}
		items[i] = map[string]any{"pred": c.pred, "golden": g}
	}
	var ref struct{ Out []pyQA }
	pyRef(t, map[string]any{"op": "qa", "items": items}, &ref)
	if len(ref.Out) != len(trickyQA) {
		t.Fatalf("python returned %d results", len(ref.Out))
	}
	for i, c := range trickyQA {
		t.Run(c.name, func(t *testing.T) {
			want := ref.Out[i]
			got := ScoreQA(c.pred, c.golden)
			if got.EM != want.EM || got.Acc != want.Acc || got.F1 != want.F1 ||
				got.Precision != want.Precision || got.Recall != want.Recall {
				t.Errorf("pred %q gold %q: go em=%v f1=%v acc=%v p=%v r=%v; python em=%v f1=%v acc=%v p=%v r=%v (norm %q)",
					c.pred, c.golden, got.EM, got.F1, got.Acc, got.Precision, got.Recall,
					want.EM, want.F1, want.Acc, want.Precision, want.Recall, want.Norm)
			}
		})
	}
}

// Hand-computed values for a few cases, independent of both implementations.
func TestHandComputed(t *testing.T) {
	cases := []struct {
		pred        string
		gold        []string
		em, f1, acc float64
	}{
		{"The Eiffel Tower", []string{"Eiffel Tower"}, 1, 1, 1},
		{"Barack Obama Jr", []string{"Barack Hussein Obama"}, 0, 2.0 / 3, 0},
		{"yes", []string{"no"}, 0, 0, 0},
		{"paris paris paris", []string{"paris"}, 0, 0.5, 1},
		{"something", []string{""}, 0, 0, 1},
		{"ΟΔΟΣ", []string{"οδος"}, 1, 1, 1},
		{"the\u0301 end", []string{"end"}, 0, 2.0 / 3, 1},
	}
	for _, c := range cases {
		q := ScoreQA(c.pred, c.gold)
		if q.EM != c.em || math.Abs(q.F1-c.f1) > 1e-12 || q.Acc != c.acc {
			t.Errorf("ScoreQA(%q, %q) = %+v, want em %v f1 %v acc %v", c.pred, c.gold, q, c.em, c.f1, c.acc)
		}
	}
}

// TestRandomQAAgainstPython checks metrics on seeded random predictions built from a small
// vocabulary, so that matches, partial overlaps and special answers are frequent.
func TestRandomQAAgainstPython(t *testing.T) {
	vocab := []string{"the", "a", "An", "yes", "No", "noanswer", "Paris", "paris,", "ΟΔΟΣ", "οδος", "é", "the\u0301",
		"New\u00a0York", "U.S.", "us", "1889", "—", "", " ", "İ", "i\u0307", "Jean-Paul", "jeanpaul"}
	rng := rand.New(rand.NewPCG(1, 2))
	phrase := func() string {
		var parts []string
		for range rng.IntN(5) {
			parts = append(parts, vocab[rng.IntN(len(vocab))])
		}
		return strings.Join(parts, []string{" ", "", "  "}[rng.IntN(3)])
	}
	n := 2000
	items := make([]map[string]any, n)
	preds := make([]string, n)
	golds := make([][]string, n)
	for i := range n {
		preds[i] = phrase()
		golds[i] = []string{}
		for range 1 + rng.IntN(3) {
			golds[i] = append(golds[i], phrase())
		}
		items[i] = map[string]any{"pred": preds[i], "golden": golds[i]}
	}
	var ref struct{ Out []pyQA }
	pyRef(t, map[string]any{"op": "qa", "items": items}, &ref)
	bad := 0
	for i := range n {
		got, want := ScoreQA(preds[i], golds[i]), ref.Out[i]
		if got.EM != want.EM || got.Acc != want.Acc || got.F1 != want.F1 {
			bad++
			if bad < 10 {
				t.Errorf("pred %q gold %q: go %+v python %+v", preds[i], golds[i], got, want)
			}
		}
	}
}

func TestRetrievalAgainstPython(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"The", "Eiffel", "Tower", "Paris", "paris.", "ΟΔΟΣ", "the\u0301", "1889", "a", "yes", "Σ"}
	text := func(n int) string {
		var p []string
		for range n {
			p = append(p, words[rng.IntN(len(words))])
		}
		return strings.Join(p, " ")
	}
	ks := []int{1, 2, 5}
	var items []map[string]any
	var lines []RetrievalLine
	for range 300 {
		l := RetrievalLine{GoldenAnswers: []string{text(1 + rng.IntN(2))}}
		for range rng.IntN(6) {
			l.Docs = append(l.Docs, docOf(text(3+rng.IntN(6))))
		}
		contents := []string{}
		for _, d := range l.Docs {
			contents = append(contents, d.Contents)
		}
		lines = append(lines, l)
		items = append(items, map[string]any{"golden": l.GoldenAnswers, "docs": contents, "k": ks})
	}
	var ref struct{ Out []map[string]float64 }
	pyRef(t, map[string]any{"op": "recall", "items": items}, &ref)
	for i, l := range lines {
		s := ScoreRetrieval(l, ks)
		for _, k := range ks {
			if s.Recall[k] != ref.Out[i][itoa(k)] {
				t.Errorf("line %d recall@%d: go %v python %v (%+v)", i, k, s.Recall[k], ref.Out[i][itoa(k)], l)
			}
		}
	}
}
