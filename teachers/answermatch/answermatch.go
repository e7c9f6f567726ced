package answermatch

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Method is the teacher's method name.
const Method = "answer-match"

// DefaultTemperature is the softmax temperature used when Options.Temperature is 0.
const DefaultTemperature = 0.1

// ReasonNoGoldAnswers is the dead-letter reason for a query without gold answers.
const ReasonNoGoldAnswers = "no_gold_answers"

// Options configures the teacher.
type Options struct {
	// Temperature of the softmax over the 1/0 scores; 0 means DefaultTemperature.
	Temperature float64
}

// Teacher labels passages by answer containment.
type Teacher struct {
	id schemas.TeacherIdentity
}

var _ teachers.Teacher = (*Teacher)(nil)

// New returns a teacher; the temperature must be finite and > 0 (or 0 for the default).
func New(o Options) (*Teacher, error) {
	t := o.Temperature
	if t == 0 {
		t = DefaultTemperature
	}
	if !(t > 0) || math.IsInf(t, 0) {
		return nil, fmt.Errorf("answer-match: temperature must be a finite number > 0, got %v", o.Temperature)
	}
	return &Teacher{id: schemas.TeacherIdentity{Method: Method, ScoreTransform: "indicator", Temperature: t}}, nil
}

// Identity returns {Method: "answer-match", ScoreTransform: "indicator", Temperature}.
func (t *Teacher) Identity() schemas.TeacherIdentity { return t.id }

// Teach scores c's passages.
func (t *Teacher) Teach(ctx context.Context, c schemas.Candidates) (schemas.Scored, error) {
	if err := ctx.Err(); err != nil {
		return schemas.Scored{}, err
	}
	answers := textnorm.NormalizeAll(c.Query.GoldenAnswers)
	if len(answers) == 0 {
		return schemas.Scored{}, streams.Permanent(ReasonNoGoldAnswers,
			fmt.Errorf("answer-match: query %q has no gold answers: %w", c.Query.ID, errNoAnswers))
	}
	// Build already decides, for its audit fields, which passages contain a normalized gold
	// answer: that is exactly this teacher's score, so reuse it instead of normalizing twice.
	s := teachers.Build(c, t.id, nil, nil)
	raw := make([]float64, len(c.Docs))
	for i, m := range s.AnswerMatch {
		if m {
			raw[i] = 1
		}
	}
	s.TeacherScores = raw
	s.Scores = teachers.Softmax(raw, t.id.Temperature)
	return s, nil
}

var errNoAnswers = errors.New("nothing to match")
