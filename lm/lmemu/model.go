package lmemu

import (
	"math"
	"sort"
)

// Model is the emulated LM: for a prefix ids[:i] (i >= 1) the logit of token v is
//
//	max over the candidates that name v of their logit, and 0 for every other token,
//
// where the candidates are
//
//   - induction: for every j < i-1 with ids[j] == ids[i-1], the token ids[j+1], logit
//     InductionLogit;
//   - hashed: for k < HashCandidates, token mix2(h,k) mod V with logit HashLogit*u(h,k) in
//     [0, HashLogit), h = FNV-1a over the prefix's ids (4 bytes little-endian each).
//
// log p(v | prefix) = logit(v) - log(sum over distinct candidates of e^logit + (V - #distinct)).
// It is a proper distribution over the V tokens, depends on every earlier token, and its
// log-probabilities can be recomputed from ids alone.
type Model struct {
	V int
}

// Model constants (the test's independent recomputation uses the same numbers).
const (
	InductionLogit = 14.0
	HashLogit      = 6.0
	HashCandidates = 3
)

// FNV-1a 64 constants.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Splitmix64 is the mixing function used for hashed candidates.
func Splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// HashStep extends a prefix hash by one id.
func HashStep(h uint64, id int) uint64 {
	v := uint32(id)
	for k := 0; k < 4; k++ {
		h ^= uint64(byte(v >> (8 * k)))
		h *= fnvPrime
	}
	return h
}

// HashCandidate returns the k-th hashed candidate of prefix hash h: token and logit.
func HashCandidate(h uint64, k, vocab int) (int, float64) {
	a := Splitmix64(h + uint64(k)*0x632BE59BD9B4E019)
	b := Splitmix64(a)
	u := float64(a>>11) / float64(uint64(1)<<53)
	return int(b % uint64(vocab)), HashLogit * u
}

// Dists returns the distribution before each position: out[j] predicts ids[j] from ids[:j]
// for j in 1..len(ids)-1, and out[len(ids)] is the distribution of the next token. out[0] is
// unused (no distribution before the first token).
func (m Model) Dists(ids []int) []Dist {
	out := make([]Dist, len(ids)+1)
	h := uint64(fnvOffset)
	follow := map[int][]int{} // token -> tokens that followed it so far (distinct, in order)
	for i := 1; i <= len(ids); i++ {
		prev := ids[i-1]
		h = HashStep(h, prev)
		out[i] = m.dist(h, follow[prev])
		if i < len(ids) && !contains(follow[prev], ids[i]) {
			// ids[i] followed prev: an induction candidate from now on.
			follow[prev] = append(follow[prev], ids[i])
		}
	}
	return out
}

// PromptLogprobs returns, for every position j in 1..len(ids)-1, log p(ids[j] | ids[:j]) in
// float64 (index 0 is NaN: no log-probability for the first token), and the distribution of the
// next token.
func (m Model) PromptLogprobs(ids []int) (lps []float64, next Dist) {
	d := m.Dists(ids)
	lps = make([]float64, len(ids))
	lps[0] = math.NaN()
	for j := 1; j < len(ids); j++ {
		lps[j] = d[j].Logprob(ids[j])
	}
	return lps, d[len(ids)]
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Dist is the distribution at one position: candidate logits and the normalizer.
type Dist struct {
	logit map[int]float64
	logZ  float64
	V     int
}

func (m Model) dist(h uint64, induction []int) Dist {
	logit := map[int]float64{}
	set := func(v int, l float64) {
		if old, ok := logit[v]; !ok || l > old {
			logit[v] = l
		}
	}
	for _, v := range induction {
		set(v, InductionLogit)
	}
	for k := 0; k < HashCandidates; k++ {
		v, l := HashCandidate(h, k, m.V)
		set(v, l)
	}
	// log-sum-exp over the candidates and V-len(logit) zeros, stably.
	mx := 0.0
	for _, l := range logit {
		mx = math.Max(mx, l)
	}
	z := float64(m.V-len(logit)) * math.Exp(-mx)
	for _, l := range logit {
		z += math.Exp(l - mx)
	}
	return Dist{logit: logit, logZ: mx + math.Log(z), V: m.V}
}

// Logprob is log p(v).
func (d Dist) Logprob(v int) float64 { return d.logit[v] - d.logZ }

// Rank is vLLM's rank of v: 1 + the number of tokens with a higher log-probability.
func (d Dist) Rank(v int) int {
	l := d.logit[v]
	r := 1
	for _, x := range d.logit {
		if x > l {
			r++
		}
	}
	if l < 0 {
		// impossible: logits are >= 0
		r += d.V
	}
	return r
}

// Top returns the n most likely tokens, most likely first (ties: smaller id first); tokens
// outside the candidates all have logit 0 and come in id order.
func (d Dist) Top(n int) []int {
	ids := make([]int, 0, len(d.logit))
	for v := range d.logit {
		ids = append(ids, v)
	}
	sort.Slice(ids, func(a, b int) bool {
		la, lb := d.logit[ids[a]], d.logit[ids[b]]
		if la != lb {
			return la > lb
		}
		return ids[a] < ids[b]
	})
	var out []int
	for _, v := range ids {
		if len(out) == n {
			return out
		}
		if d.logit[v] > 0 {
			out = append(out, v)
		}
	}
	for v := 0; len(out) < n && v < d.V; v++ {
		if d.logit[v] <= 0 && !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// F32 rounds a log-probability to float32, as the servers compute and report them.
func F32(x float64) float64 { return float64(float32(x)) }
