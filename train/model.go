package train

import (
	"math"
	"math/rand/v2"
)

// Params are the trainable parameters: Delta (d×d, row-major) when Rank is 0, else U and V
// (d×r each, row-major) with W = I + U Vᵀ; and, when the lexical weight of a hybrid
// retriever is learned, LogLex = [log λ] (λ = exp(LogLex[0]) > 0 weighs the normalized
// lexical score against the dense one; see Objective).
type Params struct {
	D, Rank int
	Delta   []float64
	U, V    []float64
	LogLex  []float64
}

// LexWeight is λ (0 when the lexical weight is not a parameter).
func (p *Params) LexWeight() float64 {
	if len(p.LogLex) == 0 {
		return 0
	}
	return math.Exp(p.LogLex[0])
}

// NewParams returns parameters with W = I. Low-rank U is drawn from N(0, 0.01²) with rng.
func NewParams(d, rank int, rng *rand.Rand) *Params {
	p := &Params{D: d, Rank: rank}
	if rank <= 0 || rank >= d {
		p.Rank = 0
		p.Delta = make([]float64, d*d)
		return p
	}
	p.U = make([]float64, d*rank)
	p.V = make([]float64, d*rank)
	for i := range p.U {
		p.U[i] = 0.01 * rng.NormFloat64()
	}
	return p
}

// vectors returns the parameter blocks in flat order (aliases the params: writes change them).
func (p *Params) vectors() [][]float64 {
	out := [][]float64{p.Delta}
	if p.Rank != 0 {
		out = [][]float64{p.U, p.V}
	}
	if p.LogLex != nil {
		out = append(out, p.LogLex)
	}
	return out
}

// Len is the number of parameters.
func (p *Params) Len() int {
	n := 0
	for _, v := range p.vectors() {
		n += len(v)
	}
	return n
}

// At and Set address the flat parameter vector (for finite differences).
func (p *Params) At(i int) float64 {
	for _, v := range p.vectors() {
		if i < len(v) {
			return v[i]
		}
		i -= len(v)
	}
	panic("train: parameter index out of range")
}

// Set sets flat parameter i.
func (p *Params) Set(i int, x float64) {
	for _, v := range p.vectors() {
		if i < len(v) {
			v[i] = x
			return
		}
		i -= len(v)
	}
	panic("train: parameter index out of range")
}

// Clone returns a deep copy.
func (p *Params) Clone() *Params {
	c := &Params{D: p.D, Rank: p.Rank}
	c.Delta = append([]float64(nil), p.Delta...)
	c.U = append([]float64(nil), p.U...)
	c.V = append([]float64(nil), p.V...)
	if p.Delta == nil {
		c.Delta = nil
	}
	if p.U == nil {
		c.U, c.V = nil, nil
	}
	if p.LogLex != nil {
		c.LogLex = append([]float64(nil), p.LogLex...)
	}
	return c
}

// DeltaMatrix returns W − I (d×d, row-major; a copy for the low-rank form).
func (p *Params) DeltaMatrix() []float64 {
	if p.Rank == 0 {
		return p.Delta
	}
	d, r := p.D, p.Rank
	m := make([]float64, d*d)
	for i := range d {
		ui := p.U[i*r : (i+1)*r]
		for j := range d {
			vj := p.V[j*r : (j+1)*r]
			var s float64
			for k := range r {
				s += ui[k] * vj[k]
			}
			m[i*d+j] = s
		}
	}
	return m
}

// W returns the full matrix I + Δ.
func (p *Params) W() []float64 {
	m := append([]float64(nil), p.DeltaMatrix()...)
	for i := range p.D {
		m[i*p.D+i]++
	}
	return m
}

// Item is one query of a mini-batch: its embedding, the rows of its passage set (candidates
// first), the teacher distribution over them (zeros for negatives) and, for a hybrid
// retriever, each row's normalized lexical score (nil: dense only).
type Item struct {
	Q       []float64
	Rows    []int32
	Teacher []float64
	Lex     []float64
}

// Objective is the LSR loss over a fixed mini-batch (negatives already drawn). The retriever
// score of passage p is s = (W q)·p, plus λ·lex for a hybrid retriever (Item.Lex the
// passage's min-max normalized lexical score, hybrid.Linear's fusion), where λ is a parameter
// (Params.LogLex) or the fixed LexWeight; P = softmax(s/γ) over the item's rows.
type Objective struct {
	Passages []float32 // row-major passage table, D columns
	D        int
	Gamma    float64
	L2       float64
	// LexWeight is λ when Params.LogLex is nil (0: the lexical scores are ignored).
	LexWeight float64
	// Cosine scores with the normalized adapted query, (W q / ‖W q‖)·p, so that the scale of
	// W cannot act as a temperature.
	Cosine bool
	Items  []Item
}

// Loss returns the objective at p.
func (o *Objective) Loss(p *Params) float64 {
	l, _ := o.eval(p, false)
	return l
}

// Gradient returns the objective and its gradient (a Params-shaped value) at p.
func (o *Objective) Gradient(p *Params) (float64, *Params) { return o.eval(p, true) }

func (o *Objective) eval(p *Params, wantGrad bool) (float64, *Params) {
	d := o.D
	delta := p.DeltaMatrix()
	var gW []float64 // dLoss/dW (= dLoss/dΔ)
	if wantGrad {
		gW = make([]float64, d*d)
	}
	lam := p.LexWeight()
	if p.LogLex == nil {
		lam = o.LexWeight
	}
	var gLogLex float64
	z := make([]float64, d)
	gz := make([]float64, d)
	var logits []float64
	var total float64
	for _, it := range o.Items {
		// z = W q = q + Δ q
		for i := range d {
			row := delta[i*d : (i+1)*d]
			s := it.Q[i]
			for j, x := range row {
				s += x * it.Q[j]
			}
			z[i] = s
		}
		zn := 1.0
		if o.Cosine {
			var ss float64
			for _, x := range z {
				ss += x * x
			}
			zn = math.Sqrt(ss)
			if zn == 0 {
				zn = 1
			}
			for i := range z {
				z[i] /= zn
			}
		}
		logits = logits[:0]
		mx := math.Inf(-1)
		for _, r := range it.Rows {
			pv := o.Passages[int(r)*d : int(r+1)*d]
			var s float64
			for j, x := range pv {
				s += float64(x) * z[j]
			}
			if it.Lex != nil {
				s += lam * it.Lex[len(logits)]
			}
			s /= o.Gamma
			logits = append(logits, s)
			mx = max(mx, s)
		}
		var se float64
		for _, s := range logits {
			se += math.Exp(s - mx)
		}
		lse := mx + math.Log(se)
		for j, t := range it.Teacher {
			if t > 0 {
				total += t * (math.Log(t) - (logits[j] - lse))
			}
		}
		if !wantGrad {
			continue
		}
		clear(gz)
		for j, r := range it.Rows {
			g := (math.Exp(logits[j]-lse) - it.Teacher[j]) / o.Gamma
			if g == 0 {
				continue
			}
			if it.Lex != nil && p.LogLex != nil {
				gLogLex += g * lam * it.Lex[j]
			}
			pv := o.Passages[int(r)*d : int(r+1)*d]
			for k, x := range pv {
				gz[k] += g * float64(x)
			}
		}
		if o.Cosine { // z holds ẑ = W q/‖W q‖: dL/d(Wq) = (I − ẑẑᵀ) dL/dẑ / ‖W q‖
			var dot float64
			for k := range d {
				dot += gz[k] * z[k]
			}
			for k := range d {
				gz[k] = (gz[k] - dot*z[k]) / zn
			}
		}
		for i := range d {
			g := gz[i]
			row := gW[i*d : (i+1)*d]
			for j, q := range it.Q {
				row[j] += g * q
			}
		}
	}
	n := float64(max(len(o.Items), 1))
	loss := total / n
	var reg float64
	for _, x := range delta {
		reg += x * x
	}
	loss += o.L2 * reg
	if !wantGrad {
		return loss, nil
	}
	for i := range gW {
		gW[i] = gW[i]/n + 2*o.L2*delta[i]
	}
	g := &Params{D: d, Rank: p.Rank}
	if p.LogLex != nil {
		g.LogLex = []float64{gLogLex / n}
	}
	if p.Rank == 0 {
		g.Delta = gW
		return loss, g
	}
	// W = I + U Vᵀ: dL/dU = G V, dL/dV = Gᵀ U.
	r := p.Rank
	g.U = make([]float64, d*r)
	g.V = make([]float64, d*r)
	for i := range d {
		for j := range d {
			gij := gW[i*d+j]
			if gij == 0 {
				continue
			}
			for k := range r {
				g.U[i*r+k] += gij * p.V[j*r+k]
				g.V[j*r+k] += gij * p.U[i*r+k]
			}
		}
	}
	return loss, g
}

// Adam is the Adam optimizer (Kingma and Ba) over a Params' flat vector.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	t                     int
	m, v                  [][]float64
}

// NewAdam returns Adam with the usual betas (0.9, 0.999) and eps 1e-8.
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Step applies one update of p with gradient g.
func (a *Adam) Step(p, g *Params) {
	pv, gv := p.vectors(), g.vectors()
	if a.m == nil {
		for _, v := range pv {
			a.m = append(a.m, make([]float64, len(v)))
			a.v = append(a.v, make([]float64, len(v)))
		}
	}
	a.t++
	c1 := 1 - math.Pow(a.Beta1, float64(a.t))
	c2 := 1 - math.Pow(a.Beta2, float64(a.t))
	for k, v := range pv {
		m, s, gr := a.m[k], a.v[k], gv[k]
		for i := range v {
			m[i] = a.Beta1*m[i] + (1-a.Beta1)*gr[i]
			s[i] = a.Beta2*s[i] + (1-a.Beta2)*gr[i]*gr[i]
			v[i] -= a.LR * (m[i] / c1) / (math.Sqrt(s[i]/c2) + a.Eps)
		}
	}
}
