package bm25

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestTokenize(t *testing.T) {
	cases := map[string][]string{
		"":                         nil,
		"  ,.;  ":                  nil,
		"Hello, World!":            {"hello", "world"},
		"who sang 'Don't Stop'?":   {"who", "sang", "don", "t", "stop"},
		"Ünïcode ÉCOLE 42nd x2":    {"ünïcode", "école", "42nd", "x2"},
		"漢字かな—mixed_under":         {"漢字かな", "mixed", "under"},
		"tab\tnew\nline\u00a0nbsp": {"tab", "new", "line", "nbsp"},
		"\xffbad\xfeutf":           {"bad", "utf"},
	}
	for in, want := range cases {
		if got := Tokenize(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHandComputed checks one score against the formula evaluated by hand.
func TestHandComputed(t *testing.T) {
	b, _ := NewBuilder(DefaultParams())
	b.Add("0", "a b") // len 2
	b.Add("1", "a")   // len 1; avgdl 1.5
	ix := b.Build()
	hits := ix.Search("b", 5)
	// idf(b) = ln(1 + (2-1+0.5)/(1+0.5)) = ln 2; norm = 0.9*(0.6 + 0.4*2/1.5) = 1.02
	want := math.Ln2 * 1.9 / (1 + 1.02)
	if len(hits) != 1 || hits[0].Ord != 0 || math.Abs(hits[0].Score-want) > 1e-12 {
		t.Fatalf("hits %+v, want doc 0 with %v", hits, want)
	}
	// "a" is in both docs: idf = ln(1 + 0.5/2.5); the shorter doc wins.
	hits = ix.Search("a", 5)
	idf := math.Log(1.2)
	w0, w1 := idf*1.9/(1+1.02), idf*1.9/(1+0.9*(0.6+0.4/1.5))
	if len(hits) != 2 || hits[0].Ord != 1 || math.Abs(hits[0].Score-w1) > 1e-12 || math.Abs(hits[1].Score-w0) > 1e-12 {
		t.Fatalf("hits %+v, want [1:%v 0:%v]", hits, w1, w0)
	}
}

// bruteForce scores every document from scratch in float64, straight from the definition.
func bruteForce(docs []string, query string, k1, b float64) []Hit {
	toks := make([][]string, len(docs))
	total := 0
	for i, d := range docs {
		toks[i] = Tokenize(d)
		total += len(toks[i])
	}
	N := float64(len(docs))
	avgdl := float64(total) / N
	df := map[string]int{}
	for _, q := range Tokenize(query) {
		if _, done := df[q]; done {
			continue
		}
		for j := range docs {
			for _, w := range toks[j] {
				if w == q {
					df[q]++
					break
				}
			}
		}
	}
	var hits []Hit
	for i := range docs {
		s, matched := 0.0, false
		for _, q := range Tokenize(query) {
			tf := 0
			for _, w := range toks[i] {
				if w == q {
					tf++
				}
			}
			if tf == 0 {
				continue
			}
			matched = true
			idf := math.Log(1 + (N-float64(df[q])+0.5)/(float64(df[q])+0.5))
			s += idf * float64(tf) * (k1 + 1) / (float64(tf) + k1*(1-b+b*float64(len(toks[i]))/avgdl))
		}
		if matched {
			hits = append(hits, Hit{Ord: i, Score: s})
		}
	}
	sort.SliceStable(hits, func(a, c int) bool { return hits[a].Score > hits[c].Score })
	return hits
}

func randomText(rng *rand.Rand, words []string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = words[rng.IntN(len(words))]
	}
	return strings.Join(parts, []string{" ", ", ", "\n", "-"}[rng.IntN(4)])
}

func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"alpha", "Beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "ω"}
	for _, p := range []Params{DefaultParams(), {K1: 1.2, B: 0.75}, {K1: 0, B: 0}, {K1: 2, B: 1}} {
		docs := make([]string, 300)
		for i := range docs {
			docs[i] = randomText(rng, words, 1+rng.IntN(40))
		}
		b, _ := NewBuilder(p)
		for i, d := range docs {
			b.Add(fmt.Sprint(i), d)
		}
		ix := b.Build()
		for q := 0; q < 40; q++ {
			query := randomText(rng, append(words, "unknownword"), 1+rng.IntN(5))
			want := bruteForce(docs, query, p.K1, p.B)
			for _, k := range []int{1, 5, 20, 1000} {
				got := ix.Search(query, k)
				if len(got) != min(k, len(want)) {
					t.Fatalf("%v q=%q k=%d: %d hits, want %d", p, query, k, len(got), min(k, len(want)))
				}
				for i, h := range got {
					// Scores must match; the ordinal may differ only between (near-)equal scores.
					if math.Abs(h.Score-want[i].Score) > 1e-9*math.Max(1, want[i].Score) {
						t.Fatalf("%v q=%q k=%d rank %d: score %v, want %v", p, query, k, i, h.Score, want[i].Score)
					}
					if i > 0 && (got[i-1].Score < h.Score || (got[i-1].Score == h.Score && got[i-1].Ord > h.Ord)) {
						t.Fatalf("results not ordered at rank %d: %+v", i, got)
					}
				}
			}
		}
	}
}

func TestOddQueries(t *testing.T) {
	b, _ := NewBuilder(DefaultParams())
	b.Add("a", "the cat sat")
	b.Add("b", "a dog ran")
	ix := b.Build()
	for _, q := range []string{"", "   ", "?!.,", "unknown words only", "\xff\xfe"} {
		if hits := ix.Search(q, 10); len(hits) != 0 {
			t.Errorf("Search(%q) = %+v, want no documents", q, hits)
		}
	}
	if hits := ix.Search("cat", 0); hits != nil {
		t.Errorf("k=0 gave %v", hits)
	}
	if hits := ix.Search("cat", -3); hits != nil {
		t.Errorf("k<0 gave %v", hits)
	}
	// Repeated query tokens weigh more, as separate query clauses do.
	one, two := ix.Search("cat", 1), ix.Search("cat cat", 1)
	if math.Abs(two[0].Score-2*one[0].Score) > 1e-12 {
		t.Errorf("repeated token: %v vs 2*%v", two[0].Score, one[0].Score)
	}
	empty, _ := NewBuilder(DefaultParams())
	if hits := empty.Build().Search("cat", 3); len(hits) != 0 {
		t.Errorf("empty index returned %v", hits)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{{K1: -1, B: 0.4}, {K1: 0.9, B: 1.5}, {K1: math.NaN(), B: 0.4}, {K1: 0.9, B: math.NaN()}, {K1: math.Inf(1), B: 0}} {
		if _, err := NewBuilder(p); err == nil {
			t.Errorf("params %+v accepted", p)
		}
	}
}

func buildRandom(t testing.TB, n int) (*Index, []string) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("river bank money loan water fish boat bridge city town road car train plane bird tree leaf")
	docs := make([]string, n)
	b, _ := NewBuilder(DefaultParams())
	for i := range docs {
		docs[i] = randomText(rng, words, 1+rng.IntN(30))
		b.Add(fmt.Sprint("d", i), docs[i])
	}
	return b.Build(), docs
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ix, _ := buildRandom(t, 200)
	path := filepath.Join(t.TempDir(), "bm25", File)
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != ix.Version() || got.Params() != ix.Params() || got.Len() != ix.Len() || got.NumTerms() != ix.NumTerms() || got.AvgDocLen() != ix.AvgDocLen() {
		t.Fatalf("loaded index differs: %v/%v", got.Version(), ix.Version())
	}
	for _, q := range []string{"river bank", "money loan money", "plane", "nothing"} {
		if a, b := ix.Search(q, 10), got.Search(q, 10); !reflect.DeepEqual(a, b) {
			t.Errorf("q=%q: before %v, after %v", q, a, b)
		}
	}
	// Same corpus, same bytes; a different corpus, a different version.
	again, _ := buildRandom(t, 200)
	p2 := filepath.Join(t.TempDir(), File)
	again.Save(p2)
	b1, _ := os.ReadFile(path)
	b2, _ := os.ReadFile(p2)
	if string(b1) != string(b2) {
		t.Error("rebuilding the same corpus gave a different file")
	}
	other, _ := buildRandom(t, 199)
	if other.Version() == ix.Version() {
		t.Error("different corpora share a version")
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	ix, _ := buildRandom(t, 50)
	path := filepath.Join(t.TempDir(), File)
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	rng := rand.New(rand.NewPCG(9, 9))
	bad := filepath.Join(t.TempDir(), "bad.bin")
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), good...)
		if i%2 == 0 {
			b = b[:rng.IntN(len(b))]
		} else {
			for j := 0; j < 1+rng.IntN(4); j++ {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
		}
		os.WriteFile(bad, b, 0o644)
		loaded, err := Load(bad) // must not panic
		if err == nil {
			// A flip that keeps the file consistent (e.g. inside a tf value) may load; it must
			// still search safely.
			loaded.Search("river bank", 5)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestConcurrentSearch(t *testing.T) {
	ix, _ := buildRandom(t, 500)
	queries := []string{"river bank", "money", "train plane bird", "tree leaf water"}
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		want[i] = ix.Search(q, 10)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				qi := (i + g) % len(queries)
				if got := ix.Search(queries[qi], 10); !reflect.DeepEqual(got, want[qi]) {
					mu.Lock()
					failures = append(failures, queries[qi])
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("concurrent searches differ for %v", failures)
	}
}

func BenchmarkSearch(b *testing.B) {
	ix, _ := buildRandom(b, 20000)
	for _, k := range []int{1, 10, 20, 100, 1000} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			queries := []string{"river bank money", "train plane", "tree leaf water fish boat"}
			i := 0
			for b.Loop() {
				ix.Search(queries[i%len(queries)], k)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
