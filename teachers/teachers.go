package teachers

import (
	"context"
	"math"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Teacher scores candidate sets. Implementations are safe for concurrent use. An error that
// retrying cannot fix must be wrapped with streams.Permanent (or be a schemas.DecodeError);
// other errors are retried by the stage runner.
type Teacher interface {
	Identity() schemas.TeacherIdentity
	Teach(ctx context.Context, c schemas.Candidates) (schemas.Scored, error)
}

// Softmax returns softmax(scores / temperature) in float64, stable for any finite input.
// Entries of -Inf get probability 0; if every entry is -Inf the result is uniform.
func Softmax(scores []float64, temperature float64) []float64 {
	out := make([]float64, len(scores))
	if len(scores) == 0 {
		return out
	}
	if temperature <= 0 {
		temperature = 1
	}
	maxv := math.Inf(-1)
	for _, s := range scores {
		if s > maxv {
			maxv = s
		}
	}
	if math.IsInf(maxv, -1) {
		for i := range out {
			out[i] = 1 / float64(len(out))
		}
		return out
	}
	sum := 0.0
	for i, s := range scores {
		out[i] = math.Exp((s - maxv) / temperature)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// Build assembles a scored record from a candidate set, the per-passage raw teacher scores and
// the teacher distribution. It also records which passages contain a normalized gold answer
// (audit for every teacher).
func Build(c schemas.Candidates, id schemas.TeacherIdentity, raw, dist []float64) schemas.Scored {
	s := schemas.Scored{
		SchemaVersion:   schemas.ScoredVersion,
		ID:              c.Query.ID,
		Query:           c.Query.Question,
		GoldenAnswers:   c.Query.GoldenAnswers,
		Pos:             make([]string, len(c.Docs)),
		Scores:          dist,
		PassageIDs:      make([]string, len(c.Docs)),
		RetrieverScores: make([]float64, len(c.Docs)),
		TeacherScores:   raw,
		Teacher:         id,
		TeacherKey:      id.Key(),
		Retriever:       c.Retriever,
		Source:          c.Query.Source,
	}
	answers := textnorm.NormalizeAll(c.Query.GoldenAnswers)
	if len(answers) > 0 {
		s.AnswerMatch = make([]bool, len(c.Docs))
	}
	for i, d := range c.Docs {
		s.Pos[i] = d.Contents
		s.PassageIDs[i] = d.ID
		s.RetrieverScores[i] = d.Score
		if len(answers) > 0 && textnorm.ContainsAny(d.Contents, answers) {
			s.AnswerMatch[i] = true
			s.NumRelevant++
		}
	}
	return s
}
