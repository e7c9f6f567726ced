package train

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/lsrflow/lsrflow/schemas"
)

// HeldOut reports whether query id falls in the held-out share frac of the training stream:
// a fixed function of the id (a hash), so that the split is the same in every run and after
// every restart, and a query is never trained on in one run and held out in another.
func HeldOut(id string, frac float64) bool {
	if frac <= 0 {
		return false
	}
	h := sha256.Sum256([]byte("lsrflow-holdout\x00" + id))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/float64(uint64(1)<<53) < frac
}

// HeldOutQuery turns a held-out training record into an evaluation query whose relevant
// passages are those the teacher preferred: probability at least half the record's
// largest. Records without a preference (uniform teacher distribution, or none) are not
// usable (false).
func HeldOutQuery(r schemas.Scored) (EvalQuery, bool) {
	if r.Validate() != nil || len(r.Scores) == 0 || isUniform(r.Scores) {
		return EvalQuery{}, false
	}
	best := 0.0
	for _, s := range r.Scores {
		best = max(best, s)
	}
	q := EvalQuery{ID: r.ID, Question: r.Query}
	for j, s := range r.Scores {
		if s >= best/2 {
			q.Relevant = append(q.Relevant, r.PassageIDs[j])
		}
	}
	return q, true
}
