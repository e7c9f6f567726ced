package bm25

import (
	"bytes"
	"errors"
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

	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
)

// build writes docs into an index file with o and opens it.
func build(tb testing.TB, docs []string, o Options) *Index {
	tb.Helper()
	if o.TempDir == "" {
		o.TempDir = tb.TempDir()
	}
	w, err := NewWriter(o)
	if err != nil {
		tb.Fatal(err)
	}
	for i, d := range docs {
		if err := w.Add(fmt.Sprint("d", i), d); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(tb.TempDir(), File)
	if _, err := w.Finish(tb.Context(), path); err != nil {
		tb.Fatal(err)
	}
	ix, err := OpenFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close() })
	if err := ix.Verify(); err != nil {
		tb.Fatal(err)
	}
	return ix
}

func search(tb testing.TB, ix *Index, q string, k int) []Hit {
	tb.Helper()
	h, err := ix.Search(q, k)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// TestHandComputed checks scores against the formulas evaluated by hand.
func TestHandComputed(t *testing.T) {
	ix := build(t, []string{"a b", "a"}, Options{Params: DefaultParams()}) // lengths 2, 1; avgdl 1.5
	hits := search(t, ix, "b", 5)
	// idf(b) = ln(1 + (2-1+0.5)/(1+0.5)) = ln 2; norm = 0.9*(0.6 + 0.4*2/1.5) = 1.02
	want := math.Ln2 * 1.9 / (1 + 1.02)
	if len(hits) != 1 || hits[0].Ord != 0 || math.Abs(hits[0].Score-want) > 1e-12 {
		t.Fatalf("hits %+v, want doc 0 with %v", hits, want)
	}
	hits = search(t, ix, "a", 5)
	idf := math.Log(1.2)
	w0, w1 := idf*1.9/(1+1.02), idf*1.9/(1+0.9*(0.6+0.4/1.5))
	if len(hits) != 2 || hits[0].Ord != 1 || math.Abs(hits[0].Score-w1) > 1e-12 || math.Abs(hits[1].Score-w0) > 1e-12 {
		t.Fatalf("hits %+v, want [1:%v 0:%v]", hits, w1, w0)
	}
	// bm25s: no (k1+1) factor, k1 = 1.5, b = 0.75; lengths 2 and 1 again.
	bs := build(t, []string{"river bank", "river"}, Options{Params: DefaultParamsFor(analysis.BM25S), Analyzer: analysis.BM25S})
	hits = search(t, bs, "bank", 5)
	want = math.Ln2 * 1 / (1 + 1.5*(0.25+0.75*2/1.5))
	if len(hits) != 1 || math.Abs(hits[0].Score-want) > 1e-12 {
		t.Fatalf("bm25s hits %+v, want %v", hits, want)
	}
}

// TestLuceneNorms checks the one-byte length encoding against Lucene 8.7's
// SmallFloat.byte4ToInt(intToByte4(n)) for these n (exact below 24, then four significant bits).
func TestLuceneNorms(t *testing.T) {
	for _, c := range []struct{ in, out uint32 }{{0, 0}, {1, 1}, {23, 23}, {24, 24}, {25, 25}, {100, 96}, {1000, 984}, {4000, 3864}} {
		if got := byte4ToInt(intToByte4(c.in)); got != c.out {
			t.Errorf("length %d decodes to %d, want %d", c.in, got, c.out)
		}
	}
	for i := 0; i < 256; i++ {
		if intToByte4(byte4ToInt(uint8(i))) != uint8(i) {
			t.Errorf("byte %d does not round-trip", i)
		}
	}
}

// bruteForce scores every document from scratch in float64, straight from the definitions,
// with the analyzer's terms (classic and bm25s variants).
func bruteForce(an *analysis.Analyzer, docs []string, query string, p Params, scoring uint8) []Hit {
	toks := make([][]string, len(docs))
	total := 0
	for i, d := range docs {
		toks[i] = an.Terms(nil, d, nil)
		total += len(toks[i])
	}
	N := float64(len(docs))
	avgdl := float64(total) / N
	df := map[string]int{}
	for j := range docs {
		seen := map[string]bool{}
		for _, w := range toks[j] {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	var hits []Hit
	for i := range docs {
		s, matched := 0.0, false
		for _, q := range an.Terms(nil, query, nil) {
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
			norm := p.K1 * (1 - p.B + p.B*float64(len(toks[i]))/avgdl)
			if scoring == ScoringClassic {
				s += idf * float64(tf) * (p.K1 + 1) / (float64(tf) + norm)
			} else {
				s += idf * float64(tf) / (float64(tf) + norm)
			}
		}
		if matched {
			hits = append(hits, Hit{Ord: i, Score: s})
		}
	}
	sort.SliceStable(hits, func(a, c int) bool { return hits[a].Score > hits[c].Score })
	return hits
}

// zipfDocs makes n documents of 1..maxLen words drawn from a Zipf distribution over vocab
// words (so that a few terms are in most documents, as in real text).
func zipfDocs(rng *rand.Rand, n, vocab, maxLen int) []string {
	words := make([]string, vocab)
	for i := range words {
		words[i] = fmt.Sprintf("w%dx", i)
	}
	z := rand.NewZipf(rng, 1.1, 2, uint64(vocab-1))
	docs := make([]string, n)
	var sb strings.Builder
	for i := range docs {
		sb.Reset()
		for j := 0; j < 1+rng.IntN(maxLen); j++ {
			sb.WriteString(words[z.Uint64()])
			sb.WriteByte(' ')
		}
		docs[i] = sb.String()
	}
	return docs
}

func randomQuery(rng *rand.Rand, docs []string) string {
	var parts []string
	for j := 0; j < 1+rng.IntN(6); j++ {
		f := strings.Fields(docs[rng.IntN(len(docs))])
		if len(f) > 0 {
			parts = append(parts, f[rng.IntN(len(f))])
		}
	}
	if rng.IntN(5) == 0 {
		parts = append(parts, "unknownword", parts[0])
	}
	return strings.Join(parts, " ")
}

func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, c := range []struct {
		analyzer string
		p        Params
	}{{analysis.Plain, DefaultParams()}, {analysis.Plain, Params{K1: 1.2, B: 0.75}}, {analysis.Plain, Params{K1: 0, B: 0}},
		{analysis.Plain, Params{K1: 2, B: 1}}, {analysis.BM25S, DefaultParamsFor(analysis.BM25S)}} {
		docs := zipfDocs(rng, 300, 40, 40)
		an, _ := analysis.ByName(c.analyzer)
		ix := build(t, docs, Options{Params: c.p, Analyzer: c.analyzer, RunBytes: 512})
		for q := 0; q < 40; q++ {
			query := randomQuery(rng, docs)
			want := bruteForce(an, docs, query, c.p, ScoringFor(c.analyzer))
			for _, k := range []int{1, 5, 20, 1000} {
				got := search(t, ix, query, k)
				if len(got) != min(k, len(want)) {
					t.Fatalf("%v q=%q k=%d: %d hits, want %d", c, query, k, len(got), min(k, len(want)))
				}
				for i, h := range got {
					// Scores must match; the ordinal may differ only between (near-)equal scores.
					if math.Abs(h.Score-want[i].Score) > 1e-9*math.Max(1, want[i].Score) {
						t.Fatalf("%v q=%q k=%d rank %d: score %v, want %v", c, query, k, i, h.Score, want[i].Score)
					}
					if i > 0 && (got[i-1].Score < h.Score || (got[i-1].Score == h.Score && got[i-1].Ord > h.Ord)) {
						t.Fatalf("results not ordered at rank %d: %+v", i, got)
					}
				}
			}
		}
	}
}

// sameHits requires identical documents in identical order and scores within 1e-6.
func sameHits(t *testing.T, what string, got, want []Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, exhaustive %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].Ord != want[i].Ord || math.Abs(got[i].Score-want[i].Score) > 1e-6 {
			t.Fatalf("%s: rank %d is %+v, exhaustive %+v", what, i, got[i], want[i])
		}
	}
}

// TestPruningMatchesExhaustive: MaxScore returns exactly the exhaustive top k on a synthetic
// Zipf corpus large enough for many blocks per term, with every analyzer and many runs.
func TestPruningMatchesExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	docs := zipfDocs(rng, 6000, 3000, 60)
	for _, name := range analysis.Names {
		ix := build(t, docs, Options{Params: DefaultParamsFor(name), Analyzer: name, RunBytes: 64 << 10})
		for q := 0; q < 300; q++ {
			query := randomQuery(rng, docs)
			for _, k := range []int{1, 3, 10, 20, 100} {
				got := search(t, ix, query, k)
				want, err := ix.SearchExhaustive(query, k)
				if err != nil {
					t.Fatal(err)
				}
				sameHits(t, fmt.Sprintf("%s q=%q k=%d", name, query, k), got, want)
			}
		}
	}
}

func TestOddQueries(t *testing.T) {
	ix := build(t, []string{"the cat sat", "a dog ran"}, Options{Params: DefaultParams()})
	for _, q := range []string{"", "   ", "?!.,", "unknown words only", "\xff\xfe"} {
		if hits := search(t, ix, q, 10); len(hits) != 0 {
			t.Errorf("Search(%q) = %+v, want no documents", q, hits)
		}
	}
	if hits := search(t, ix, "cat", 0); hits != nil {
		t.Errorf("k=0 gave %v", hits)
	}
	if hits := search(t, ix, "cat", -3); hits != nil {
		t.Errorf("k<0 gave %v", hits)
	}
	// Repeated query tokens weigh more, as separate query clauses do.
	one, two := search(t, ix, "cat", 1), search(t, ix, "cat cat", 1)
	if math.Abs(two[0].Score-2*one[0].Score) > 1e-12 {
		t.Errorf("repeated token: %v vs 2*%v", two[0].Score, one[0].Score)
	}
	empty := build(t, nil, Options{Params: DefaultParams()})
	if hits := search(t, empty, "cat", 3); len(hits) != 0 {
		t.Errorf("empty index returned %v", hits)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{{K1: -1, B: 0.4}, {K1: 0.9, B: 1.5}, {K1: math.NaN(), B: 0.4}, {K1: 0.9, B: math.NaN()}, {K1: math.Inf(1), B: 0}} {
		if _, err := NewWriter(Options{Params: p, TempDir: t.TempDir()}); err == nil {
			t.Errorf("params %+v accepted", p)
		}
	}
	if _, err := NewWriter(Options{Params: DefaultParams(), Analyzer: "snowball", TempDir: t.TempDir()}); err == nil {
		t.Error("unknown analyzer accepted")
	}
}

func buildFile(tb testing.TB, docs []string, o Options, path string) {
	tb.Helper()
	o.TempDir = tb.TempDir()
	w, err := NewWriter(o)
	if err != nil {
		tb.Fatal(err)
	}
	for i, d := range docs {
		w.Add(fmt.Sprint(i), d)
	}
	if _, err := w.Finish(tb.Context(), path); err != nil {
		tb.Fatal(err)
	}
}

// TestRunsDoNotChangeTheFile: how the postings were spilled (one run or hundreds, one worker
// or four) does not change a byte of the file; a different corpus changes the version.
func TestRunsDoNotChangeTheFile(t *testing.T) {
	docs := zipfDocs(rand.New(rand.NewPCG(1, 2)), 2000, 500, 30)
	dir := t.TempDir()
	var files [][]byte
	for i, o := range []Options{{RunBytes: 1 << 30, Workers: 1}, {RunBytes: 4 << 10, Workers: 4}, {RunBytes: 100, Workers: 2}} {
		o.Params = DefaultParams()
		p := filepath.Join(dir, fmt.Sprint(i))
		buildFile(t, docs, o, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Equal(files[0], files[2]) {
		t.Fatal("the same corpus gave different files")
	}
	a := build(t, docs, Options{Params: DefaultParams()})
	b := build(t, docs[:1999], Options{Params: DefaultParams()})
	if a.Version() == b.Version() {
		t.Error("different corpora share a version")
	}
}

func TestOldFormatIsNamed(t *testing.T) {
	p := filepath.Join(t.TempDir(), File)
	os.WriteFile(p, append([]byte(oldMagic), make([]byte, 100)...), 0o644)
	if _, err := OpenFile(p); !errors.Is(err, ErrOldFormat) {
		t.Fatalf("old file: %v, want ErrOldFormat", err)
	}
	os.WriteFile(p, []byte(oldMagic), 0o644)
	if _, err := OpenFile(p); !errors.Is(err, ErrOldFormat) {
		t.Fatalf("short old file: %v, want ErrOldFormat", err)
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	docs := zipfDocs(rand.New(rand.NewPCG(5, 6)), 300, 100, 30)
	path := filepath.Join(t.TempDir(), File)
	buildFile(t, docs, Options{Params: DefaultParams()}, path)
	good, _ := os.ReadFile(path)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 500; i++ {
		b := append([]byte(nil), good...)
		if i%3 == 0 {
			b = b[:rng.IntN(len(b))]
		} else {
			for j := 0; j < 1+rng.IntN(4); j++ {
				// Most flips land past the checksummed header: in postings, blocks, terms.
				b[headerSize+rng.IntN(len(b)-headerSize)] ^= byte(1 + rng.IntN(255))
			}
		}
		ix, err := Decode(b) // must not panic
		if err != nil {
			continue
		}
		ix.Verify()
		for q := 0; q < 5; q++ {
			ix.Search(randomQuery(rng, docs), 10)
			ix.SearchExhaustive(randomQuery(rng, docs), 10)
		}
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file opened")
	}
}

func TestConcurrentSearch(t *testing.T) {
	docs := zipfDocs(rand.New(rand.NewPCG(5, 7)), 2000, 200, 30)
	ix := build(t, docs, Options{Params: DefaultParams()})
	rng := rand.New(rand.NewPCG(1, 1))
	queries := []string{randomQuery(rng, docs), randomQuery(rng, docs), randomQuery(rng, docs), randomQuery(rng, docs)}
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		want[i] = search(t, ix, q, 10)
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
				if got, _ := ix.Search(queries[qi], 10); !reflect.DeepEqual(got, want[qi]) {
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
	docs := zipfDocs(rand.New(rand.NewPCG(5, 6)), 50000, 20000, 100)
	ix := build(b, docs, Options{Params: DefaultParams()})
	rng := rand.New(rand.NewPCG(2, 2))
	queries := make([]string, 64)
	for i := range queries {
		queries[i] = randomQuery(rng, docs)
	}
	for _, k := range []int{10, 20, 100} {
		for _, mode := range []string{"maxscore", "exhaustive"} {
			b.Run(fmt.Sprintf("%s/k=%d", mode, k), func(b *testing.B) {
				i := 0
				for b.Loop() {
					if mode == "maxscore" {
						ix.Search(queries[i%len(queries)], k)
					} else {
						ix.SearchExhaustive(queries[i%len(queries)], k)
					}
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			})
		}
	}
}
