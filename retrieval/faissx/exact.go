package faissx

import (
	"fmt"
	"sort"
)

// ExactSearch is a pure-Go exhaustive search in float64 arithmetic over the row-major matrix
// data (n rows of dim floats): the reference the FAISS indexes are checked against. Hits are
// ordered best first (highest inner product, or lowest squared L2 distance), ties by lower id.
func ExactSearch(data []float32, dim int, queries []float32, k int, m Metric) ([][]Hit, error) {
	if dim <= 0 || len(data)%dim != 0 || len(queries)%dim != 0 {
		return nil, fmt.Errorf("faissx: exact search: lengths %d and %d are not multiples of dimension %d", len(data), len(queries), dim)
	}
	if k <= 0 {
		return nil, fmt.Errorf("faissx: exact search: k = %d must be positive", k)
	}
	n, nq := len(data)/dim, len(queries)/dim
	type scored struct {
		id int
		s  float64
	}
	out := make([][]Hit, nq)
	all := make([]scored, n)
	for q := range nq {
		qv := queries[q*dim : (q+1)*dim]
		for i := range n {
			row := data[i*dim : (i+1)*dim]
			var s float64
			if m == L2 {
				for j, x := range row {
					d := float64(x) - float64(qv[j])
					s += d * d
				}
				s = -s
			} else {
				for j, x := range row {
					s += float64(x) * float64(qv[j])
				}
			}
			all[i] = scored{i, s}
		}
		sort.Slice(all, func(a, b int) bool {
			if all[a].s != all[b].s {
				return all[a].s > all[b].s
			}
			return all[a].id < all[b].id
		})
		kk := min(k, n)
		hits := make([]Hit, kk)
		for j := range kk {
			s := all[j].s
			if m == L2 {
				s = -s
			}
			hits[j] = Hit{ID: int64(all[j].id), Score: float32(s)}
		}
		out[q] = hits
	}
	return out, nil
}
