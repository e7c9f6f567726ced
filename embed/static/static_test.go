package static

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/testenv"
)

var _ embed.Embedder = (*SIF)(nil)

func TestReadWink(t *testing.T) {
	// Two words of dimension 3; each vector carries its L2 norm and its index in "words".
	// norm(1,2,2) = 3, norm(0,3,4) = 5.
	js := `{"precision":8,"l2NormIndex":3,"wordIndex":4,"size":2,"dimensions":3,
	 "words":["the","cat"],
	 "vectors":{"cat":[0,3,4,5,1],"the":[1,2,2,3,0]},
	 "unkVector":[0,0,0,0,-1]}`
	v, err := ReadWink(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 2 || v.Dim() != 3 || v.Word(0) != "the" || v.Lookup("cat") != 1 || v.Lookup("dog") != -1 {
		t.Fatalf("table: len %d dim %d word0 %q", v.Len(), v.Dim(), v.Word(0))
	}
	if got := v.Row(1); got[0] != 0 || got[1] != 3 || got[2] != 4 {
		t.Errorf("row of cat = %v", got)
	}
	bad := map[string]string{
		"norm mismatch":  `{"l2NormIndex":3,"wordIndex":4,"dimensions":3,"words":["the"],"vectors":{"the":[1,2,2,4,0]}}`,
		"index mismatch": `{"l2NormIndex":3,"wordIndex":4,"dimensions":3,"words":["the"],"vectors":{"the":[1,2,2,3,7]}}`,
		"short vector":   `{"dimensions":3,"words":["the"],"vectors":{"the":[1,2]}}`,
		"missing vector": `{"dimensions":3,"words":["the","cat"],"vectors":{"the":[1,2,2]}}`,
		"no dimensions":  `{"words":["the"],"vectors":{"the":[1,2,2]}}`,
		"not json":       `{"dimensions":3,"words":["the"],"vectors":{"the":[1,2,`,
		"array":          `[1,2,3]`,
		"empty":          ``,
	}
	for name, js := range bad {
		if _, err := ReadWink(strings.NewReader(js)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadGloveText(t *testing.T) {
	txt := "3 2\nthe 0.5 -1\nnew york 1e-3 2\n\n, 0 0\n"
	v, err := ReadGloveText(strings.NewReader(txt))
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 3 || v.Dim() != 2 || v.Lookup("new york") != 1 || v.Lookup(",") != 2 {
		t.Fatalf("len %d dim %d", v.Len(), v.Dim())
	}
	if r := v.Row(1); r[0] != float32(1e-3) || r[1] != 2 {
		t.Errorf("row of 'new york' = %v", r)
	}
	for _, bad := range []string{"", "the 1 2\ncat 1\n", "the 1 x\n", "the 1 NaN\n", "word\n"} {
		if _, err := ReadGloveText(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func randomVectors(t testing.TB, rng *rand.Rand, n, dim int) *Vectors {
	t.Helper()
	words := make([]string, n)
	data := make([]float32, n*dim)
	for i := range words {
		words[i] = strings.Repeat(string(rune('a'+i%26)), 1+i/26)
	}
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	v, err := NewVectors(words, dim, data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBinaryRoundTripAndCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	v := randomVectors(t, rng, 60, 7)
	path := filepath.Join(t.TempDir(), "v.lsrv")
	if err := v.WriteBinary(path); err != nil {
		t.Fatal(err)
	}
	w, err := LoadBinary(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Len() != v.Len() || w.Dim() != v.Dim() || w.Checksum() != v.Checksum() {
		t.Fatalf("round trip: %d x %d crc %08x, want %d x %d crc %08x", w.Len(), w.Dim(), w.Checksum(), v.Len(), v.Dim(), v.Checksum())
	}
	for i := range v.Len() {
		if w.Word(i) != v.Word(i) || !equal32(w.Row(i), v.Row(i)) {
			t.Fatalf("row %d differs", i)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, 9, 30, len(raw) - 10, len(raw) - 1} {
		bad := bytes.Clone(raw)
		bad[pos] ^= 0x40
		p := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(p, bad, 0o644)
		if _, err := LoadBinary(p); err == nil {
			t.Errorf("flipped byte %d: no error", pos)
		}
	}
	p := filepath.Join(t.TempDir(), "short")
	os.WriteFile(p, raw[:len(raw)/2], 0o644)
	if _, err := LoadBinary(p); err == nil {
		t.Error("truncated file: no error")
	}
}

func FuzzDecodeBinary(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	v := randomVectors(f, rng, 5, 3)
	var good bytes.Buffer
	v.writeNoCRC(&good)
	f.Add(good.Bytes())
	f.Add([]byte("LSRVEC01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeBinary(bytes.NewReader(b), int64(len(b))) // must not panic
	})
}

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// jacobiTopEigenvector is an independent reference for FirstPrincipalComponent: it
// diagonalizes the symmetric matrix C by cyclic Jacobi rotations and returns the unit
// eigenvector of the largest eigenvalue.
func jacobiTopEigenvector(C []float64, d int) []float64 {
	A := append([]float64(nil), C...)
	V := make([]float64, d*d)
	for i := range d {
		V[i*d+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off float64
		for p := range d {
			for q := p + 1; q < d; q++ {
				off += A[p*d+q] * A[p*d+q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := range d {
			for q := p + 1; q < d; q++ {
				apq := A[p*d+q]
				if math.Abs(apq) < 1e-300 {
					continue
				}
				theta := (A[q*d+q] - A[p*d+p]) / (2 * apq)
				tt := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(tt*tt+1)
				s := tt * c
				for k := range d { // A = J^T A J
					akp, akq := A[k*d+p], A[k*d+q]
					A[k*d+p], A[k*d+q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := range d {
					apk, aqk := A[p*d+k], A[q*d+k]
					A[p*d+k], A[q*d+k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := range d {
					vkp, vkq := V[k*d+p], V[k*d+q]
					V[k*d+p], V[k*d+q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	best := 0
	for i := range d {
		if A[i*d+i] > A[best*d+best] {
			best = i
		}
	}
	out := make([]float64, d)
	for k := range d {
		out[k] = V[k*d+best]
	}
	return out
}

func TestFirstPrincipalComponentMatchesJacobi(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, d := range []int{2, 5, 17} {
		n := 40
		X := make([]float64, n*d)
		dir := make([]float64, d)
		for j := range dir {
			dir[j] = rng.NormFloat64()
		}
		for i := range n {
			a := 3 * rng.NormFloat64()
			for j := range d {
				X[i*d+j] = a*dir[j] + rng.NormFloat64()
			}
		}
		C := make([]float64, d*d)
		for i := range n {
			for a := range d {
				for b := range d {
					C[a*d+b] += X[i*d+a] * X[i*d+b]
				}
			}
		}
		got := FirstPrincipalComponent(X, d)
		want := jacobiTopEigenvector(C, d)
		var dot float64
		for j := range d {
			dot += got[j] * want[j]
		}
		if math.Abs(math.Abs(dot)-1) > 1e-9 {
			t.Errorf("d=%d: |<power, jacobi>| = %.12f, want 1", d, math.Abs(dot))
		}
	}
	if FirstPrincipalComponent(make([]float64, 12), 3) != nil {
		t.Error("zero matrix: want nil component")
	}
}

// TestSIFMatchesFormula recomputes SIF embeddings of a toy corpus by a separate float64 path
// (explicit frequency table, weights, mean, Jacobi eigenvector, projection, normalization).
func TestSIFMatchesFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	words := []string{"the", "cat", "sat", "on", "mat", "dog", "ran", "über"}
	dim := 6
	data := make([]float32, len(words)*dim)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	vec, err := NewVectors(words, dim, data)
	if err != nil {
		t.Fatal(err)
	}
	corpus := []string{"The cat sat on the mat.", "The DOG ran!", "Über the zebra", "the the the", "???"}
	s, err := Fit(context.Background(), vec, corpus, FitOptions{A: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	// independent tokenization by hand of the corpus above
	toks := [][]string{
		{"the", "cat", "sat", "on", "the", "mat"}, {"the", "dog", "ran"}, {"über", "the", "zebra"},
		{"the", "the", "the"}, {},
	}
	count := map[string]float64{}
	total := 0.0
	for _, ts := range toks {
		for _, w := range ts {
			count[w]++
			total++
		}
	}
	weight := func(w string) float64 { return 0.05 / (0.05 + count[w]/total) }
	row := map[string]int{}
	for i, w := range words {
		row[w] = i
	}
	mean := func(ts []string) []float64 {
		out := make([]float64, dim)
		n := 0
		for _, w := range ts {
			r, ok := row[w]
			if !ok {
				continue
			}
			n++
			for j := range dim {
				out[j] += weight(w) * float64(data[r*dim+j])
			}
		}
		for j := range out {
			if n > 0 {
				out[j] /= float64(n)
			}
		}
		return out
	}
	C := make([]float64, dim*dim)
	for _, ts := range toks {
		m := mean(ts)
		for a := range dim {
			for b := range dim {
				C[a*dim+b] += m[a] * m[b]
			}
		}
	}
	pc := jacobiTopEigenvector(C, dim)
	ref := func(ts []string) []float64 {
		m := mean(ts)
		var dot, norm float64
		for j := range dim {
			dot += m[j] * pc[j]
		}
		for j := range dim {
			m[j] -= dot * pc[j]
			norm += m[j] * m[j]
		}
		for j := range dim {
			if norm > 0 {
				m[j] /= math.Sqrt(norm)
			}
		}
		return m
	}
	cases := map[string][]string{
		"the cat sat":        {"the", "cat", "sat"},
		"Dog, über... mat":   {"dog", "über", "mat"},
		"unknown words only": {"unknown", "words", "only"},
		"sat sat ran":        {"sat", "sat", "ran"},
	}
	for text, ts := range cases {
		got := s.Vector(text)
		want := ref(ts)
		for j := range dim {
			if math.Abs(float64(got[j])-want[j]) > 1e-6 {
				t.Errorf("%q: got %v, want %v", text, got, want)
				break
			}
		}
	}
	if w := s.Weight("dog"); math.Abs(w-weight("dog")) > 1e-6 {
		t.Errorf("weight(dog) = %g, want %g", w, weight("dog"))
	}
	if w := s.Weight("sat"); math.Abs(w-weight("sat")) > 1e-6 {
		t.Errorf("weight(sat) = %g, want %g", w, weight("sat"))
	}

	// save/load reproduces the embedder exactly and refuses other vectors
	path := filepath.Join(t.TempDir(), "sif.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	s2, err := LoadSIF(path, vec)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Name() != s.Name() {
		t.Errorf("name after load %q, want %q", s2.Name(), s.Name())
	}
	for text := range cases {
		if !equal32(s.Vector(text), s2.Vector(text)) {
			t.Errorf("%q: loaded embedder differs", text)
		}
	}
	other := randomVectors(t, rng, 8, dim)
	if _, err := LoadSIF(path, other); err == nil {
		t.Error("LoadSIF with other vectors: no error")
	}
	// the fitted state changes the name
	s3, err := Fit(context.Background(), vec, corpus[:2], FitOptions{A: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if s3.Name() == s.Name() {
		t.Error("different corpus, same name")
	}
}

func TestFitErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	vec := randomVectors(t, rng, 4, 3)
	ctx := context.Background()
	if _, err := Fit(ctx, vec, nil, FitOptions{}); err == nil {
		t.Error("empty corpus: no error")
	}
	if _, err := Fit(ctx, vec, []string{"!!!"}, FitOptions{}); err == nil {
		t.Error("corpus without tokens: no error")
	}
	if _, err := Fit(ctx, vec, []string{"a"}, FitOptions{A: -1}); err == nil {
		t.Error("negative a: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Fit(cctx, vec, []string{"a"}, FitOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func BenchmarkGloveSIFEmbed(b *testing.B) {
	vec := loadGlove(b)
	docs := readJSONL[struct {
		Contents string `json:"contents"`
	}](b, testenv.SharedFile(b, "data/qed/corpus.jsonl"))
	corpus := make([]string, len(docs))
	var bytesTotal int64
	for i, d := range docs {
		corpus[i] = d.Contents
		bytesTotal += int64(len(d.Contents))
	}
	s, err := Fit(context.Background(), vec, corpus, FitOptions{VectorsName: GloveName})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bytesTotal)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Embed(context.Background(), corpus, embed.Passage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(corpus)*b.N)/b.Elapsed().Seconds(), "passages/s")
}

func FuzzReadWink(f *testing.F) {
	f.Add(`{"l2NormIndex":3,"wordIndex":4,"dimensions":3,"words":["the","cat"],"vectors":{"cat":[0,3,4,5,1],"the":[1,2,2,3,0]}}`)
	f.Add(`{"dimensions":1e9,"words":["a"],"vectors":{"a":[1]}}`)
	f.Add(`{"wordIndex":1e300,"dimensions":1,"words":["a"],"vectors":{"a":[1,2]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadWink(strings.NewReader(s)) // must not panic
	})
}

func FuzzReadGloveText(f *testing.F) {
	f.Add("3 2\nthe 0.5 -1\nnew york 1e-3 2\n")
	f.Add("a 1\nb 2 3\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadGloveText(strings.NewReader(s)) // must not panic
	})
}

// eachToken is Tokenize without the allocations: the same tokens, in order, for ASCII and
// non-ASCII text alike.
func TestEachTokenMatchesTokenize(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	alphabet := []rune("aZz09 ,.\n\t-_'Éé İıßΣ中文😀\u0301")
	texts := []string{"", "   ", "The cat, the HAT.", "a1b2--C3", "Dog, über... mat", "İstanbul", "x\u0301y"}
	for range 2000 {
		r := make([]rune, rng.IntN(30))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) > 0 { // mostly ASCII
				r[i] = alphabet[rng.IntN(10)]
			}
		}
		texts = append(texts, string(r))
	}
	var buf []byte
	for _, text := range texts {
		var got []string
		buf = eachToken(text, buf, func(tok []byte) { got = append(got, string(tok)) })
		if want := Tokenize(text); !slices.Equal(got, want) {
			t.Fatalf("%q: eachToken %q, Tokenize %q", text, got, want)
		}
	}
}

// Stats fits in one pass: with a sample that holds the whole corpus it is FitSeq exactly;
// with a smaller sample the principal component is close to the whole corpus's one.
func TestStatsFitMatchesFitSeq(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const dim = 6
	vec := randomVectors(t, rng, 40, dim)
	corpus := make([]string, 3000)
	for i := range corpus {
		var b strings.Builder
		for range 3 + rng.IntN(12) {
			// Zipf-ish word choice so that weights differ
			b.WriteString(vec.Word(int(float64(vec.Len()) * rng.Float64() * rng.Float64())))
			b.WriteString(" ")
		}
		if i%7 == 0 {
			b.WriteString("oov-word ")
		}
		corpus[i] = b.String()
	}
	ctx := t.Context()
	ref, err := Fit(ctx, vec, corpus, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fit := func(sample int) *SIF {
		st, err := NewStats(vec, sample, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range corpus {
			st.Add(c)
		}
		if st.Texts() != int64(len(corpus)) {
			t.Fatalf("%d texts, want %d", st.Texts(), len(corpus))
		}
		s, err := st.Fit(ctx, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	whole := fit(len(corpus))
	if whole.Name() != ref.Name() {
		t.Errorf("one pass with the whole corpus sampled: name %q, FitSeq %q", whole.Name(), ref.Name())
	}
	for _, c := range corpus[:50] {
		if !equal32(whole.Vector(c), ref.Vector(c)) {
			t.Fatalf("%q: vectors differ", c)
		}
	}
	sampled := fit(500)
	if w, r := sampled.Weight(vec.Word(3)), ref.Weight(vec.Word(3)); w != r {
		t.Errorf("weights come from all texts: %g, want %g", w, r)
	}
	var cos float64
	for j, p := range sampled.PrincipalComponent() {
		cos += p * ref.PrincipalComponent()[j]
	}
	if cos < 0.99 {
		t.Errorf("principal component from a 500-text sample: cosine %.4f to the whole corpus's", cos)
	}
	if again := fit(500); again.Name() != sampled.Name() {
		t.Error("the same corpus gave a different sample")
	}
}
