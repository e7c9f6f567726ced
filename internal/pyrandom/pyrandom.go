// Package pyrandom reproduces the parts of CPython's `random` module that FlashRAG's data
// loading draws from, bit for bit: Random.seed with an integer, getrandbits, _randbelow,
// choice and sample (CPython 3.x, Modules/_randommodule.c and Lib/random.py). FlashRAG seeds
// Python's global generator with the config's `seed` (flashrag/config/config.py, _set_seed)
// and then draws `random.sample(data, test_sample_num)` per split when `random_sample` is on
// (flashrag/dataset/dataset.py, Dataset._load_data); the RAG-Retrieval experiment then picks
// one gold answer per question with `random.choice` (get_lm_probs_dataset.py, LMProb.run).
// Reproducing the generator lets lsrflow select the same questions and answers.
//
// A Rand is not safe for concurrent use.
package pyrandom

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

const (
	n         = 624
	m         = 397
	matrixA   = 0x9908b0df
	upperMask = 0x80000000
	lowerMask = 0x7fffffff
)

// Rand is CPython's Mersenne Twister state.
type Rand struct {
	mt  [n]uint32
	idx int
}

// New returns a generator seeded as `random.seed(seed)` seeds it.
func New(seed int64) *Rand {
	r := &Rand{}
	r.Seed(seed)
	return r
}

// Seed reseeds as `random.seed(seed)` does for an int: the absolute value, split into 32-bit
// words least significant first (at least one word), fed to init_by_array.
func (r *Rand) Seed(seed int64) {
	v := new(big.Int).Abs(big.NewInt(seed))
	var key []uint32
	for _, w := range v.Bits() { // little-endian machine words
		x := uint64(w)
		key = append(key, uint32(x))
		if bits.UintSize == 64 {
			key = append(key, uint32(x>>32))
		}
	}
	for len(key) > 1 && key[len(key)-1] == 0 {
		key = key[:len(key)-1]
	}
	if len(key) == 0 {
		key = []uint32{0}
	}
	r.initByArray(key)
}

func (r *Rand) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < n; i++ {
		p := r.mt[i-1]
		r.mt[i] = 1812433253*(p^(p>>30)) + uint32(i)
	}
	r.idx = n
}

func (r *Rand) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	for k := max(n, len(key)); k > 0; k-- {
		p := r.mt[i-1]
		r.mt[i] = (r.mt[i] ^ ((p ^ (p >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= n {
			r.mt[0] = r.mt[n-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := n - 1; k > 0; k-- {
		p := r.mt[i-1]
		r.mt[i] = (r.mt[i] ^ ((p ^ (p >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= n {
			r.mt[0] = r.mt[n-1]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
	r.idx = n
}

// Uint32 is genrand_uint32: the next tempered 32-bit output.
func (r *Rand) Uint32() uint32 {
	if r.idx >= n {
		mag := [2]uint32{0, matrixA}
		var kk int
		for kk = 0; kk < n-m; kk++ {
			y := (r.mt[kk] & upperMask) | (r.mt[kk+1] & lowerMask)
			r.mt[kk] = r.mt[kk+m] ^ (y >> 1) ^ mag[y&1]
		}
		for ; kk < n-1; kk++ {
			y := (r.mt[kk] & upperMask) | (r.mt[kk+1] & lowerMask)
			r.mt[kk] = r.mt[kk+(m-n)] ^ (y >> 1) ^ mag[y&1]
		}
		y := (r.mt[n-1] & upperMask) | (r.mt[0] & lowerMask)
		r.mt[n-1] = r.mt[m-1] ^ (y >> 1) ^ mag[y&1]
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// GetRandBits is random.getrandbits(k) for 0 <= k <= 64: 32-bit words, least significant
// first, the last one shifted right to keep k bits.
func (r *Rand) GetRandBits(k int) uint64 {
	if k <= 0 {
		return 0
	}
	if k <= 32 {
		return uint64(r.Uint32() >> (32 - k))
	}
	if k > 64 {
		panic(fmt.Sprintf("pyrandom: getrandbits(%d) above 64 bits is not supported", k))
	}
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32() >> (64 - k))
	return hi<<32 | lo
}

// RandBelow is Random._randbelow_with_getrandbits(n): a uniform integer in [0, n), drawn
// with n.bit_length() bits and rejection. n must be positive.
func (r *Rand) RandBelow(n int) int {
	if n <= 0 {
		panic("pyrandom: RandBelow of a non-positive bound")
	}
	k := bits.Len64(uint64(n))
	v := r.GetRandBits(k)
	for v >= uint64(n) {
		v = r.GetRandBits(k)
	}
	return int(v)
}

// ErrEmpty is random.choice's IndexError on an empty sequence.
var ErrEmpty = errors.New("cannot choose from an empty sequence")

// Choice is random.choice over a sequence of length size: the index it picks.
func (r *Rand) Choice(size int) (int, error) {
	if size <= 0 {
		return 0, ErrEmpty
	}
	return r.RandBelow(size), nil
}

// Sample is random.sample(range(size), k) as indexes, in the order Python returns them. Python
// keeps a shrinking pool for small populations and a set of picks for large ones; both are
// reproduced because they draw differently.
func (r *Rand) Sample(size, k int) ([]int, error) {
	if k < 0 || k > size {
		return nil, fmt.Errorf("sample larger than population or is negative (k=%d, population %d)", k, size)
	}
	out := make([]int, k)
	setsize := 21
	if k > 5 {
		setsize += int(math.Pow(4, math.Ceil(math.Log(float64(k*3))/math.Log(4))))
	}
	if size <= setsize {
		pool := make([]int, size)
		for i := range pool {
			pool[i] = i
		}
		for i := range k {
			j := r.RandBelow(size - i)
			out[i] = pool[j]
			pool[j] = pool[size-i-1]
		}
		return out, nil
	}
	picked := make(map[int]bool, k)
	for i := range k {
		j := r.RandBelow(size)
		for picked[j] {
			j = r.RandBelow(size)
		}
		picked[j] = true
		out[i] = j
	}
	return out, nil
}
