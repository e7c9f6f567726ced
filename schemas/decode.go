package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Reasons are the stable, short causes recorded in dead letters and metrics labels.
const (
	ReasonBrokenJSON      = "broken_json"
	ReasonNotObject       = "not_an_object"
	ReasonInvalidUTF8     = "invalid_utf8"
	ReasonMissingQuestion = "missing_question"
	ReasonTooLong         = "line_too_long"
	ReasonInvalid         = "invalid_record"
	ReasonVersion         = "unsupported_version"
)

// DecodeError is a permanent decoding or validation failure: retrying cannot fix it.
type DecodeError struct {
	Reason string
	Detail string
}

func (e *DecodeError) Error() string { return e.Reason + ": " + e.Detail }

// Errorf builds a DecodeError.
func Errorf(reason, format string, args ...any) error {
	return &DecodeError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the dead-letter reason of err: a DecodeError's reason, or "" otherwise.
func ReasonOf(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

// objectBytes checks that b is valid UTF-8 holding a single JSON object.
func objectBytes(b []byte) error {
	if !utf8.Valid(b) {
		return Errorf(ReasonInvalidUTF8, "input is not valid UTF-8")
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return Errorf(ReasonBrokenJSON, "empty input")
	}
	if !json.Valid(t) {
		return Errorf(ReasonBrokenJSON, "not valid JSON")
	}
	if t[0] != '{' {
		return Errorf(ReasonNotObject, "JSON value is not an object")
	}
	return nil
}

func decodeObject(b []byte, v any) error {
	if err := objectBytes(b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Errorf(ReasonInvalid, "%v", err)
	}
	return nil
}

// datasetLine is FlashRAG's dataset format, with loosely typed fields so that a wrong type is
// reported as a reason rather than a generic unmarshal error.
type datasetLine struct {
	SchemaVersion int             `json:"schema_version"`
	ID            json.RawMessage `json:"id"`
	Question      json.RawMessage `json:"question"`
	GoldenAnswers json.RawMessage `json:"golden_answers"`
	GoldDocIDs    []string        `json:"gold_doc_ids"`
	Choices       json.RawMessage `json:"choices"`
	SeedAnswer    string          `json:"seed_answer"`
	Source        string          `json:"source"`
	Time          time.Time       `json:"time"`
}

// DecodeQuery decodes one query: FlashRAG dataset jsonl or lsrflow's own query record. Extra
// fields are ignored. A missing id is derived from the question (QueryIDFor). A
// multiple-choice row (FlashRAG's "choices" list with golden_answers holding indexes into it)
// gets the chosen texts as its golden answers, as FlashRAG's metrics resolve them
// (flashrag/evaluator/metrics.py, BaseMetric.get_dataset_answer).
func DecodeQuery(b []byte) (Query, error) {
	var d datasetLine
	if err := decodeObject(b, &d); err != nil {
		return Query{}, err
	}
	q := Query{SchemaVersion: d.SchemaVersion, GoldDocIDs: d.GoldDocIDs, SeedAnswer: d.SeedAnswer, Source: d.Source, Time: d.Time}
	if q.SchemaVersion == 0 {
		q.SchemaVersion = QueryVersion
	}
	if len(d.Question) == 0 || string(d.Question) == "null" {
		return Query{}, Errorf(ReasonMissingQuestion, "question is missing")
	}
	if err := json.Unmarshal(d.Question, &q.Question); err != nil {
		return Query{}, Errorf(ReasonInvalid, "question is not a string")
	}
	id, err := flexibleID(d.ID)
	if err != nil {
		return Query{}, err
	}
	q.ID = id
	if q.ID == "" {
		q.ID = QueryIDFor(q.Question)
	}
	if q.GoldenAnswers, err = GoldenAnswers(d.GoldenAnswers, d.Choices); err != nil {
		return Query{}, err
	}
	if err := q.Validate(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// flexibleID accepts a string or a number id (some datasets use integers).
func flexibleID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", Errorf(ReasonInvalid, "id must be a string or a number")
}

// stringList accepts a list of strings or a single string (some dumps store one answer bare).
func stringList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	return nil, Errorf(ReasonInvalid, "golden_answers must be a list of strings")
}

// GoldenAnswers reads a dataset row's golden_answers: a list of strings (or one bare string),
// or, for a multiple-choice row, a list of indexes into its choices (Python indexing: -1 is
// the last choice), which are replaced by the choice texts.
func GoldenAnswers(golden, choices json.RawMessage) ([]string, error) {
	list, err := stringList(golden)
	if err == nil {
		return list, nil
	}
	var idx []int
	if json.Unmarshal(golden, &idx) != nil {
		return nil, err
	}
	var opts []string
	if len(choices) == 0 || string(choices) == "null" || json.Unmarshal(choices, &opts) != nil || len(opts) == 0 {
		return nil, Errorf(ReasonInvalid, "golden_answers are choice indexes but the row has no list of choices")
	}
	out := make([]string, len(idx))
	for i, x := range idx {
		j := x
		if j < 0 {
			j += len(opts)
		}
		if j < 0 || j >= len(opts) {
			return nil, Errorf(ReasonInvalid, "golden_answers index %d is outside the %d choices", x, len(opts))
		}
		out[i] = opts[j]
	}
	return out, nil
}

// DecodeLogLine decodes one raw query-log line: a JSON object (as DecodeQuery, but "query" or
// "text" are accepted for the question) or, when the line does not start with '{' or '[', the
// plain text of the question. The id of a plain-text query is derived from its text.
func DecodeLogLine(b []byte) (Query, error) {
	if !utf8.Valid(b) {
		return Query{}, Errorf(ReasonInvalidUTF8, "input is not valid UTF-8")
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if err := objectBytes(t); err != nil {
			return Query{}, err
		}
		var alt struct {
			Query string `json:"query"`
			Text  string `json:"text"`
		}
		_ = json.Unmarshal(t, &alt)
		var probe map[string]json.RawMessage
		_ = json.Unmarshal(t, &probe)
		if _, ok := probe["question"]; !ok {
			q := alt.Query
			if q == "" {
				q = alt.Text
			}
			if q != "" {
				probe["question"], _ = json.Marshal(q)
				t, _ = json.Marshal(probe)
			}
		}
		q, err := DecodeQuery(t)
		if err == nil && q.Source == "" {
			q.Source = "log"
		}
		return q, err
	}
	text := strings.TrimSpace(string(t))
	if text == "" {
		return Query{}, Errorf(ReasonMissingQuestion, "empty line")
	}
	return Query{SchemaVersion: QueryVersion, ID: QueryIDFor(text), Question: text, Source: "log"}, nil
}

// DecodeCandidates decodes and validates a candidate set.
func DecodeCandidates(b []byte) (Candidates, error) {
	var c Candidates
	if err := decodeObject(b, &c); err != nil {
		return Candidates{}, err
	}
	if c.SchemaVersion == 0 {
		c.SchemaVersion = CandidatesVersion
	}
	if c.Query.SchemaVersion == 0 {
		c.Query.SchemaVersion = QueryVersion
	}
	return c, c.Validate()
}

// DecodeScored decodes and validates a scored record.
func DecodeScored(b []byte) (Scored, error) {
	var s Scored
	if err := decodeObject(b, &s); err != nil {
		return Scored{}, err
	}
	if s.SchemaVersion == 0 {
		s.SchemaVersion = ScoredVersion
	}
	return s, s.Validate()
}

// DecodeDeadLetter decodes a dead-letter record.
func DecodeDeadLetter(b []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := decodeObject(b, &d); err != nil {
		return DeadLetter{}, err
	}
	if d.SchemaVersion == 0 {
		d.SchemaVersion = DeadLetterVersion
	}
	if d.Stage == "" || d.Reason == "" {
		return DeadLetter{}, Errorf(ReasonInvalid, "dead letter needs stage and reason")
	}
	return d, checkVersion(d.SchemaVersion, DeadLetterVersion)
}

// Encode marshals a record as one JSON line (no trailing newline).
func Encode(v any) ([]byte, error) { return json.Marshal(v) }
