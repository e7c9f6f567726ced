package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

func randomObjective(rng *rand.Rand, d, rows, items int, cosine, lex bool) *Objective {
	o := &Objective{D: d, Gamma: 0.3, L2: 0.07, Cosine: cosine, Passages: make([]float32, rows*d)}
	for i := range o.Passages {
		o.Passages[i] = float32(rng.NormFloat64())
	}
	for range items {
		it := Item{Q: make([]float64, d)}
		for j := range it.Q {
			it.Q[j] = rng.NormFloat64()
		}
		perm := rng.Perm(rows)[:5]
		var sum float64
		for j, r := range perm {
			it.Rows = append(it.Rows, int32(r))
			t := 0.0
			if j < 3 { // three candidates with teacher mass, two zero-probability negatives
				t = rng.Float64() + 0.1
			}
			it.Teacher = append(it.Teacher, t)
			sum += t
		}
		for j := range it.Teacher {
			it.Teacher[j] /= sum
		}
		if lex { // normalized lexical scores in [0, 1], some passages absent (0)
			for j := range it.Rows {
				x := 0.0
				if j%3 != 2 {
					x = rng.Float64()
				}
				it.Lex = append(it.Lex, x)
			}
		}
		o.Items = append(o.Items, it)
	}
	return o
}

// TestGradientMatchesFiniteDifferences checks the analytic gradient against central finite
// differences in float64, for full-rank and low-rank W, dot and cosine scores, with and
// without a learned lexical weight (hybrid training), away from W = I.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rank        int
		cosine, lex bool
		fixedLex    float64
	}{{"full", 0, false, false, 0}, {"full-cosine", 0, true, false, 0}, {"rank2", 2, false, false, 0}, {"rank2-cosine", 2, true, false, 0},
		{"full-lexweight", 0, false, true, 0}, {"rank2-lexweight", 2, false, true, 0}, {"full-fixed-lexweight", 0, false, true, 0.6}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			d := 6
			o := randomObjective(rng, d, 12, 4, tc.cosine, tc.lex)
			p := NewParams(d, tc.rank, rng)
			o.LexWeight = tc.fixedLex
			if tc.lex && tc.fixedLex == 0 {
				p.LogLex = []float64{math.Log(0.8)}
			}
			for i := range p.Len() { // move away from the identity
				p.Set(i, p.At(i)+0.2*rng.NormFloat64())
			}
			loss, g := o.Gradient(p)
			if l2 := o.Loss(p); math.Abs(l2-loss) > 1e-12 {
				t.Fatalf("Loss %v != Gradient's loss %v", l2, loss)
			}
			const h = 1e-6
			worst := 0.0
			for i := range p.Len() {
				x := p.At(i)
				p.Set(i, x+h)
				lp := o.Loss(p)
				p.Set(i, x-h)
				lm := o.Loss(p)
				p.Set(i, x)
				num := (lp - lm) / (2 * h)
				err := math.Abs(num-g.At(i)) / max(1e-4, math.Abs(num)+math.Abs(g.At(i)))
				worst = max(worst, err)
				if err > 1e-6 {
					t.Errorf("param %d: analytic %.10g, numeric %.10g (rel err %.2g)", i, g.At(i), num, err)
				}
			}
			t.Logf("%d params, worst relative error %.2g", p.Len(), worst)
		})
	}
}

// TestLossIsPerQuery: the loss of a batch is the mean of the single-query losses (the softmax
// never spans two queries), and KL is zero when the retriever matches the teacher.
func TestLossIsPerQuery(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	o := randomObjective(rng, 5, 10, 3, false, false)
	o.L2 = 0
	p := NewParams(5, 0, rng)
	var sum float64
	for _, it := range o.Items {
		one := *o
		one.Items = []Item{it}
		sum += one.Loss(p)
	}
	if got := o.Loss(p); math.Abs(got-sum/3) > 1e-12 {
		t.Fatalf("batch loss %v, mean of per-query losses %v", got, sum/3)
	}
	// teacher = the retriever's own softmax: KL 0
	it := o.Items[0]
	q := it.Q
	var logits []float64
	for _, r := range it.Rows {
		var s float64
		for j := range 5 {
			s += float64(o.Passages[int(r)*5+j]) * q[j]
		}
		logits = append(logits, s/o.Gamma)
	}
	mx := math.Inf(-1)
	for _, s := range logits {
		mx = max(mx, s)
	}
	var z float64
	for _, s := range logits {
		z += math.Exp(s - mx)
	}
	it.Teacher = make([]float64, len(logits))
	for j, s := range logits {
		it.Teacher[j] = math.Exp(s-mx) / z
	}
	o.Items = []Item{it}
	if l := o.Loss(p); math.Abs(l) > 1e-12 {
		t.Fatalf("KL(P||P) = %v", l)
	}
}

// syntheticDataset builds n examples over a random in-memory index of rows passages.
func syntheticDataset(t *testing.T, rng *rand.Rand, d, rows, n int) *Dataset {
	t.Helper()
	m := &Matrix{D: d, Data: make([]float32, rows*d)}
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	pass, err := NewPassages(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := NewDataset(pass, nil)
	for i := range n {
		ex := Example{ID: string(rune('a' + i)), Q: make([]float64, d)}
		for j := range ex.Q {
			ex.Q[j] = rng.NormFloat64()
		}
		var ords []int64
		for _, r := range rng.Perm(rows)[:4] {
			ords = append(ords, int64(r))
		}
		if ex.Rows, err = pass.Acquire(ords); err != nil {
			t.Fatal(err)
		}
		ex.Teacher = []float64{0.7, 0.1, 0.1, 0.1}
		ex.best = ex.Rows[0]
		ds.Examples = append(ds.Examples, ex)
	}
	return ds
}

// TestTrainingIsDeterministic: the same seed gives bit-identical parameters; another seed not.
func TestTrainingIsDeterministic(t *testing.T) {
	run := func(seed uint64) *Params {
		ds := syntheticDataset(t, rand.New(rand.NewPCG(3, 4)), 8, 40, 30)
		tr, err := NewTrainer(Config{Steps: 50, Batch: 8, Negatives: 5, L2: 0.01, Seed: seed}, ds)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Train(context.Background(), 50); err != nil {
			t.Fatal(err)
		}
		return tr.Params
	}
	a, b, c := run(1), run(1), run(2)
	same := func(x, y *Params) bool {
		for i := range x.Len() {
			if x.At(i) != y.At(i) {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatal("same seed, different parameters")
	}
	if same(a, c) {
		t.Fatal("different seeds, identical parameters")
	}
}
