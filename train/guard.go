package train

import (
	"fmt"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
)

// LeakGuard holds the identity of training queries: ids and normalized-question hashes.
type LeakGuard struct {
	ids, hashes map[string]bool
}

// NewLeakGuard returns an empty guard.
func NewLeakGuard() *LeakGuard { return &LeakGuard{ids: map[string]bool{}, hashes: map[string]bool{}} }

// Add records one training query.
func (g *LeakGuard) Add(id, question string) {
	if id != "" {
		g.ids[id] = true
	}
	if h := QuestionHash(question); h != "" {
		g.hashes[h] = true
	}
}

// AddDataset records every query ds was ever given (evicted ones too).
func (g *LeakGuard) AddDataset(ds *Dataset) {
	for id := range ds.trained {
		g.ids[id] = true
	}
	for h := range ds.hashes {
		g.hashes[h] = true
	}
}

// AddCheckpoint records the training queries listed in a checkpoint's metadata.
func (g *LeakGuard) AddCheckpoint(m adapter.Metadata) {
	for _, id := range m.TrainIDs {
		g.ids[id] = true
	}
	for _, h := range m.TrainQuestionHashes {
		g.hashes[h] = true
	}
}

// Contains reports whether a query was a training query (same id or same normalized text).
func (g *LeakGuard) Contains(id, question string) bool {
	if id != "" && g.ids[id] {
		return true
	}
	h := QuestionHash(question)
	return h != "" && g.hashes[h]
}

// Overlap returns the evaluation questions that were training questions.
func (g *LeakGuard) Overlap(qs []EvalQuery) []EvalQuery {
	var out []EvalQuery
	for _, q := range qs {
		if g.Contains(q.ID, q.Question) {
			out = append(out, q)
		}
	}
	return out
}

// LeakError refuses an evaluation that overlaps the training queries.
type LeakError struct {
	Overlap, Total int
	Examples       []string
}

func (e *LeakError) Error() string {
	return fmt.Sprintf("leakage: %d of %d evaluation questions were training questions (e.g. %v); evaluate on held-out questions or force it", e.Overlap, e.Total, e.Examples)
}

// Check returns a *LeakError when qs overlaps the training queries and force is false; the
// overlap count is returned either way (report it).
func (g *LeakGuard) Check(qs []EvalQuery, force bool) (int, error) {
	ov := g.Overlap(qs)
	if len(ov) == 0 || force {
		return len(ov), nil
	}
	ex := make([]string, 0, 3)
	for _, q := range ov[:min(3, len(ov))] {
		ex = append(ex, q.ID)
	}
	return len(ov), &LeakError{Overlap: len(ov), Total: len(qs), Examples: ex}
}
