package teach

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers"
)

type fixedTeacher struct {
	scores []float64
	err    error
}

func (f fixedTeacher) Identity() schemas.TeacherIdentity {
	return schemas.TeacherIdentity{Method: "fixed", Temperature: 1}
}

func (f fixedTeacher) Teach(ctx context.Context, c schemas.Candidates) (schemas.Scored, error) {
	if f.err != nil {
		return schemas.Scored{}, f.err
	}
	return teachers.Build(c, f.Identity(), f.scores, f.scores), nil
}

func candidates() streams.Message {
	c := schemas.Candidates{SchemaVersion: 1, Query: schemas.Query{SchemaVersion: 1, ID: "q", Question: "what", GoldenAnswers: []string{"x"}},
		Docs: []schemas.Passage{{ID: "1", Contents: "t\nx"}, {ID: "2", Contents: "t\ny"}}}
	b, _ := json.Marshal(c)
	return streams.Message{Key: []byte("q"), Value: b}
}

func TestTeachEmitsValidRecords(t *testing.T) {
	outs, err := Processor{Teacher: fixedTeacher{scores: []float64{0.75, 0.25}}}.Process(t.Context(), candidates())
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemas.DecodeScored(outs[0].Value)
	if err != nil || s.ID != "q" || string(outs[0].Key) != "q" || s.NumRelevant != 1 {
		t.Fatalf("scored %+v, %v", s, err)
	}
}

func TestTeachRejectsWhatItCannotTrust(t *testing.T) {
	// A distribution that does not sum to one is a bug in the teacher: dead-letter, don't sink.
	_, err := Processor{Teacher: fixedTeacher{scores: []float64{0.9, 0.9}}}.Process(t.Context(), candidates())
	if !streams.IsPermanent(err) || streams.ReasonOf(err) != "invalid_scored_record" {
		t.Fatalf("invalid distribution: %v", err)
	}
	_, err = Processor{Teacher: fixedTeacher{err: errors.New("LM timeout")}}.Process(t.Context(), candidates())
	if err == nil || streams.IsPermanent(err) {
		t.Fatalf("teacher failure must be retriable: %v", err)
	}
	_, err = Processor{Teacher: fixedTeacher{}}.Process(t.Context(), streams.Message{Value: []byte("[]")})
	if streams.ReasonOf(err) != schemas.ReasonNotObject {
		t.Fatalf("undecodable candidates: %v", err)
	}
}
