package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Current schema versions. A decoder accepts any version from 1 up to these.
const (
	QueryVersion      = 1
	CandidatesVersion = 1
	ScoredVersion     = 1
	DeadLetterVersion = 1
)

// Query is one question entering the pipeline.
type Query struct {
	SchemaVersion int      `json:"schema_version"`
	ID            string   `json:"id"`
	Question      string   `json:"question"`
	GoldenAnswers []string `json:"golden_answers,omitempty"`
	GoldDocIDs    []string `json:"gold_doc_ids,omitempty"`
	// SeedAnswer, when set, is the one gold answer the seed-compatible teacher scores, chosen
	// upstream (a FlashRAG-config run draws it as the experiment's random.choice did).
	SeedAnswer string    `json:"seed_answer,omitempty"`
	Source     string    `json:"source,omitempty"`
	Time       time.Time `json:"time,omitzero"`
}

// Passage is a retrieved document: FlashRAG's corpus id and contents ("title\ntext") plus the
// retriever's score.
type Passage struct {
	ID       string  `json:"id"`
	Contents string  `json:"contents"`
	Score    float64 `json:"score"`
}

// Title returns the first line of the contents (FlashRAG's convention), or "" when there is none.
func (p Passage) Title() string {
	t, _, ok := strings.Cut(p.Contents, "\n")
	if !ok {
		return ""
	}
	return t
}

// Text returns the contents after the title line.
func (p Passage) Text() string {
	_, txt, ok := strings.Cut(p.Contents, "\n")
	if !ok {
		return p.Contents
	}
	return txt
}

// RetrieverInfo says which retriever produced a candidate set.
type RetrieverInfo struct {
	Method  string `json:"method"`
	Version string `json:"version,omitempty"`
}

// Candidates is a query with its top-k passages, best first.
type Candidates struct {
	SchemaVersion int           `json:"schema_version"`
	Query         Query         `json:"query"`
	Docs          []Passage     `json:"docs"`
	Retriever     RetrieverInfo `json:"retriever"`
}

// TeacherIdentity names everything that determines a teacher's labels. Two records with the
// same query id and the same identity key are the same record (sinks de-duplicate on it).
type TeacherIdentity struct {
	Method      string  `json:"method"`
	Model       string  `json:"model,omitempty"`
	Temperature float64 `json:"temperature"`
	// ScoreTransform says what was put into the softmax: "logprob" (REPLUG on log-likelihoods,
	// the default), "prob" (REPLUG as printed), "mean-token-prob" (seed-compatible), "indicator".
	ScoreTransform string `json:"score_transform,omitempty"`
	Combine        string `json:"combine,omitempty"`
	PromptHash     string `json:"prompt_hash,omitempty"`
	Precision      string `json:"precision,omitempty"`
	// Tokenizer names where an LM teacher's token ids came from ("tokenizer.json@sha256:…",
	// "server:/tokenize", "gguf"): the same model tokenized differently gives other labels.
	Tokenizer string `json:"tokenizer,omitempty"`
	// TokenLayout names how an LM teacher turned (prompt, target) into token ids when it is
	// not lm-evaluation-harness' rule (empty): "separate" is FlashRAG's cal_gen_probs (prompt
	// and answer encoded each on its own), the seed-compatible teacher's layout.
	TokenLayout string `json:"token_layout,omitempty"`
}

// Key is a short stable digest of the identity, used to key idempotent sinks and caches.
func (t TeacherIdentity) Key() string {
	b, _ := json.Marshal(t) // field order is fixed by the struct, so this is canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Scored is one training record: a query, its k passages and the teacher's distribution over
// them. Query, Pos and Scores form the seed format {"query","pos","scores"}; the rest is audit.
type Scored struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`
	Query         string    `json:"query"`
	Pos           []string  `json:"pos"`
	Scores        []float64 `json:"scores"`

	GoldenAnswers   []string  `json:"golden_answers,omitempty"`
	PassageIDs      []string  `json:"passage_ids"`
	RetrieverScores []float64 `json:"retriever_scores"`
	// TeacherScores are the per-passage raw teacher scores before the softmax: LM
	// log-likelihoods for LM teachers, 1/0 for answer-match.
	TeacherScores []float64 `json:"teacher_scores"`
	// AnswerMatch marks the passages that contain a normalized gold answer (audit for every
	// teacher); NumRelevant counts them. A record with NumRelevant == 0 has no positive passage.
	AnswerMatch []bool `json:"answer_match,omitempty"`
	NumRelevant int    `json:"num_relevant"`

	Teacher    TeacherIdentity `json:"teacher"`
	TeacherKey string          `json:"teacher_key"`
	Retriever  RetrieverInfo   `json:"retriever"`
	Source     string          `json:"source,omitempty"`
	// Truncated counts passages cut to fit the LM's context window.
	Truncated int `json:"truncated,omitempty"`
}

// DedupKey is the identity of a scored record for idempotent sinks: (query id, teacher).
func (s Scored) DedupKey() string { return s.ID + "\x00" + s.TeacherKey }

// DeadLetter records an input that a stage could not process, with the original bytes.
type DeadLetter struct {
	SchemaVersion int       `json:"schema_version"`
	Stage         string    `json:"stage"`
	Reason        string    `json:"reason"`
	Error         string    `json:"error,omitempty"`
	Topic         string    `json:"topic,omitempty"`
	Partition     int       `json:"partition"`
	Offset        int64     `json:"offset"`
	Key           string    `json:"key,omitempty"`
	Payload       []byte    `json:"payload"`
	Attempts      int       `json:"attempts,omitempty"`
	Time          time.Time `json:"time,omitzero"`
	// PayloadSize and PayloadSHA256 (hex) describe the whole input when Payload holds only
	// its first bytes (a bounded dead letter of an input too large to keep); unset otherwise.
	PayloadSize   int64  `json:"payload_size,omitempty"`
	PayloadSHA256 string `json:"payload_sha256,omitempty"`
}

// Truncated reports whether Payload holds only the first bytes of the input.
func (d DeadLetter) Truncated() bool { return d.PayloadSize > int64(len(d.Payload)) }

// DedupKey identifies a dead letter so that a replayed or resumed run does not write it twice.
func (d DeadLetter) DedupKey() string {
	sum := sha256.Sum256(d.Payload)
	return d.Stage + "\x00" + d.Key + "\x00" + hex.EncodeToString(sum[:8])
}

// QueryIDFor derives a stable id for a query that arrived without one.
func QueryIDFor(question string) string {
	sum := sha256.Sum256([]byte(question))
	return "q-" + hex.EncodeToString(sum[:6])
}

// Validate checks a query's invariants.
func (q *Query) Validate() error {
	if strings.TrimSpace(q.Question) == "" {
		return Errorf(ReasonMissingQuestion, "question is missing or empty")
	}
	if q.ID == "" {
		return Errorf(ReasonInvalid, "id is empty")
	}
	if err := checkVersion(q.SchemaVersion, QueryVersion); err != nil {
		return err
	}
	return nil
}

// Validate checks a candidate set's invariants.
func (c *Candidates) Validate() error {
	if err := checkVersion(c.SchemaVersion, CandidatesVersion); err != nil {
		return err
	}
	if err := c.Query.Validate(); err != nil {
		return err
	}
	for i, d := range c.Docs {
		if d.ID == "" {
			return Errorf(ReasonInvalid, "docs[%d] has no id", i)
		}
	}
	return nil
}

// Validate checks a scored record's invariants: parallel arrays of one length, and a teacher
// distribution that is a probability vector.
func (s *Scored) Validate() error {
	if err := checkVersion(s.SchemaVersion, ScoredVersion); err != nil {
		return err
	}
	if s.ID == "" || strings.TrimSpace(s.Query) == "" {
		return Errorf(ReasonInvalid, "scored record needs id and query")
	}
	n := len(s.Pos)
	for name, l := range map[string]int{"scores": len(s.Scores), "passage_ids": len(s.PassageIDs), "retriever_scores": len(s.RetrieverScores), "teacher_scores": len(s.TeacherScores)} {
		if l != n {
			return Errorf(ReasonInvalid, "%s has %d entries, pos has %d", name, l, n)
		}
	}
	if n > 0 {
		sum := 0.0
		for _, p := range s.Scores {
			if p < 0 || p != p {
				return Errorf(ReasonInvalid, "scores must be probabilities, got %v", p)
			}
			sum += p
		}
		if sum < 0.999 || sum > 1.001 {
			return Errorf(ReasonInvalid, "scores sum to %v, want 1", sum)
		}
	}
	return nil
}

func checkVersion(got, current int) error {
	if got < 0 || got > current {
		return Errorf(ReasonVersion, "schema_version %d is not supported (this build reads 0..%d)", got, current)
	}
	return nil
}
