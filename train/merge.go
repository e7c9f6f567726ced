package train

import (
	"math"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers"
)

// MergeScored unites two scored records of the same query and teacher whose candidates came
// from different retrievers (e.g. before and after an adapter version): the passages of both,
// each with its raw teacher score, and the teacher distribution recomputed over the union as
// the teacher computes it (softmax of the raw scores at its temperature). It reports false,
// leaving a unchanged, when the records are of different queries or teachers, or when either
// record's distribution is not that softmax of its raw scores (a teacher whose raw scores do
// not say everything), since the union could not be scored as the teacher would.
func MergeScored(a, b schemas.Scored) (schemas.Scored, bool) {
	if a.ID != b.ID || a.TeacherKey != b.TeacherKey || !softmaxOfRaw(a) || !softmaxOfRaw(b) {
		return a, false
	}
	out := a
	out.Pos = append([]string(nil), a.Pos...)
	out.PassageIDs = append([]string(nil), a.PassageIDs...)
	out.RetrieverScores = append([]float64(nil), a.RetrieverScores...)
	out.TeacherScores = append([]float64(nil), a.TeacherScores...)
	out.AnswerMatch = append([]bool(nil), a.AnswerMatch...)
	have := map[string]bool{}
	for _, id := range a.PassageIDs {
		have[id] = true
	}
	for j, id := range b.PassageIDs {
		if have[id] {
			continue
		}
		have[id] = true
		out.Pos = append(out.Pos, b.Pos[j])
		out.PassageIDs = append(out.PassageIDs, id)
		out.RetrieverScores = append(out.RetrieverScores, b.RetrieverScores[j])
		out.TeacherScores = append(out.TeacherScores, b.TeacherScores[j])
		if len(b.AnswerMatch) == len(b.PassageIDs) && len(out.AnswerMatch) == len(out.PassageIDs)-1 {
			out.AnswerMatch = append(out.AnswerMatch, b.AnswerMatch[j])
		}
	}
	if len(out.AnswerMatch) != len(out.PassageIDs) {
		out.AnswerMatch = nil
	}
	out.NumRelevant = 0
	for _, m := range out.AnswerMatch {
		if m {
			out.NumRelevant++
		}
	}
	out.Scores = teachers.Softmax(out.TeacherScores, a.Teacher.Temperature)
	return out, true
}

func softmaxOfRaw(r schemas.Scored) bool {
	if len(r.TeacherScores) != len(r.Scores) || len(r.Scores) == 0 {
		return false
	}
	p := teachers.Softmax(r.TeacherScores, r.Teacher.Temperature)
	for i := range p {
		if math.Abs(p[i]-r.Scores[i]) > 1e-6 {
			return false
		}
	}
	return true
}
