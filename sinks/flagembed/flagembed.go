package flagembed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
)

// SplitMode says how positives are chosen from a scored record.
type SplitMode string

// Split modes.
const (
	// SplitTop takes the N passages with the highest teacher probability as positives (only
	// those above the record's lowest probability: a flat distribution has no positive).
	SplitTop SplitMode = "top"
	// SplitThreshold takes every passage whose teacher probability is >= Threshold.
	SplitThreshold SplitMode = "threshold"
	// SplitAnswerMatch takes the passages that contain a normalized gold answer.
	SplitAnswerMatch SplitMode = "answer-match"
)

// Split turns a teacher distribution into positives and negatives.
type Split struct {
	Mode      SplitMode
	N         int     // SplitTop
	Threshold float64 // SplitThreshold
	// MaxNeg caps the negatives per record (0: all), hardest (highest retriever rank) first.
	MaxNeg int
}

// ParseSplit parses "top:N", "threshold:P" or "answer-match".
func ParseSplit(s string) (Split, error) {
	mode, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch SplitMode(mode) {
	case SplitTop:
		n := 1
		if hasArg {
			v, err := strconv.Atoi(arg)
			if err != nil || v < 1 {
				return Split{}, fmt.Errorf("split %q: top:N needs a positive integer N", s)
			}
			n = v
		}
		return Split{Mode: SplitTop, N: n}, nil
	case SplitThreshold:
		v, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || v <= 0 || v > 1 {
			return Split{}, fmt.Errorf("split %q: threshold:P needs a probability 0 < P <= 1", s)
		}
		return Split{Mode: SplitThreshold, Threshold: v}, nil
	case SplitAnswerMatch:
		if hasArg {
			return Split{}, fmt.Errorf("split %q: answer-match takes no argument", s)
		}
		return Split{Mode: SplitAnswerMatch}, nil
	}
	return Split{}, fmt.Errorf("split %q: want top:N, threshold:P or answer-match", s)
}

// String is the inverse of ParseSplit.
func (sp Split) String() string {
	switch sp.Mode {
	case SplitTop:
		return fmt.Sprintf("top:%d", sp.N)
	case SplitThreshold:
		return "threshold:" + strconv.FormatFloat(sp.Threshold, 'g', -1, 64)
	}
	return string(sp.Mode)
}

// Apply returns the indexes of the positive passages (highest teacher probability first) and
// of the negatives (in retrieval order, capped at MaxNeg).
func (sp Split) Apply(s schemas.Scored) (pos, neg []int) {
	n := len(s.Pos)
	isPos := make([]bool, n)
	switch sp.Mode {
	case SplitTop:
		// Only passages the teacher prefers count: above the lowest probability of the record,
		// so a flat distribution (a teacher that found nothing) yields no positive.
		order := byProb(s)
		floor := 0.0
		if len(order) > 0 {
			floor = s.Scores[order[len(order)-1]]
		}
		for _, i := range order[:min(sp.N, len(order))] {
			if s.Scores[i] > floor {
				isPos[i] = true
			}
		}
	case SplitThreshold:
		for i := range n {
			if i < len(s.Scores) && s.Scores[i] >= sp.Threshold {
				isPos[i] = true
			}
		}
	case SplitAnswerMatch:
		for i := range n {
			if i < len(s.AnswerMatch) && s.AnswerMatch[i] {
				isPos[i] = true
			}
		}
	}
	for _, i := range byProb(s) {
		if isPos[i] {
			pos = append(pos, i)
		}
	}
	for i := range n {
		if !isPos[i] && (sp.MaxNeg <= 0 || len(neg) < sp.MaxNeg) {
			neg = append(neg, i)
		}
	}
	return pos, neg
}

// byProb orders passage indexes by teacher probability, highest first, ties by rank.
func byProb(s schemas.Scored) []int {
	n := min(len(s.Pos), len(s.Scores))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.Scores[order[a]] > s.Scores[order[b]] })
	return order
}

// ScoreKind says what is written as a passage's score.
type ScoreKind string

// Score kinds.
const (
	// ScoreLogProb writes log p (floored at LogFloor). FlagEmbedding and sentence-transformers'
	// DistillKLDivLoss apply a softmax to the scores they read, and softmax(log p) = p, so the
	// trainer's target is exactly the teacher distribution. The default.
	ScoreLogProb ScoreKind = "logprob"
	// ScoreProb writes the teacher probability p itself.
	ScoreProb ScoreKind = "prob"
)

// LogFloor replaces log(0), which JSON cannot carry.
const LogFloor = -30.0

// ParseScoreKind parses "logprob" or "prob".
func ParseScoreKind(s string) (ScoreKind, error) {
	switch ScoreKind(s) {
	case ScoreLogProb, ScoreProb:
		return ScoreKind(s), nil
	}
	return "", fmt.Errorf("score kind %q: want logprob or prob", s)
}

func (k ScoreKind) of(p float64) float64 {
	if k == ScoreProb {
		return p
	}
	if p <= 0 || math.IsNaN(p) {
		return LogFloor
	}
	return max(math.Log(p), LogFloor)
}

// FlagRecord is one line of FlagEmbedding's fine-tuning data (knowledge_distillation).
type FlagRecord struct {
	Query     string    `json:"query"`
	Pos       []string  `json:"pos"`
	Neg       []string  `json:"neg"`
	PosScores []float64 `json:"pos_scores"`
	NegScores []float64 `json:"neg_scores"`
}

// Skip reasons returned by the converters.
const (
	SkipNoPositive = "no_positive"
	SkipNoNegative = "too_few_negatives"
)

// ToFlag converts a scored record; it returns a skip reason when the split leaves no positive
// or no negative (FlagEmbedding needs both).
func ToFlag(s schemas.Scored, sp Split, kind ScoreKind) (FlagRecord, string) {
	pos, neg := sp.Apply(s)
	if len(pos) == 0 {
		return FlagRecord{}, SkipNoPositive
	}
	if len(neg) == 0 {
		return FlagRecord{}, SkipNoNegative
	}
	r := FlagRecord{Query: s.Query}
	for _, i := range pos {
		r.Pos = append(r.Pos, s.Pos[i])
		r.PosScores = append(r.PosScores, kind.of(s.Scores[i]))
	}
	for _, i := range neg {
		r.Neg = append(r.Neg, s.Pos[i])
		r.NegScores = append(r.NegScores, kind.of(s.Scores[i]))
	}
	return r, ""
}

// STRow is one row for sentence-transformers distillation (DistillKLDivLoss): the query, one
// positive (the split's best), exactly n negatives and the teacher score vector Label over
// [pos, neg_1..neg_n]. It marshals as {"query","pos","neg_1",...,"neg_n","label"} so that
// `datasets.load_dataset("json")` sees fixed columns.
type STRow struct {
	Query string
	Pos   string
	Neg   []string
	Label []float64
}

// MarshalJSON writes the columns in order.
func (r STRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(name string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		enc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(enc)
		return nil
	}
	if err := field("query", r.Query); err != nil {
		return nil, err
	}
	if err := field("pos", r.Pos); err != nil {
		return nil, err
	}
	for i, n := range r.Neg {
		if err := field(fmt.Sprintf("neg_%d", i+1), n); err != nil {
			return nil, err
		}
	}
	if err := field("label", r.Label); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ToST converts a scored record into a sentence-transformers row with exactly n negatives;
// it returns a skip reason when the record has no positive or fewer than n negatives.
func ToST(s schemas.Scored, sp Split, n int, kind ScoreKind) (STRow, string) {
	pos, neg := sp.Apply(s)
	if len(pos) == 0 {
		return STRow{}, SkipNoPositive
	}
	if len(neg) < n || n < 1 {
		return STRow{}, SkipNoNegative
	}
	r := STRow{Query: s.Query, Pos: s.Pos[pos[0]], Label: []float64{kind.of(s.Scores[pos[0]])}}
	for _, i := range neg[:n] {
		r.Neg = append(r.Neg, s.Pos[i])
		r.Label = append(r.Label, kind.of(s.Scores[i]))
	}
	return r, ""
}

// LLMEmbedderRecord is one training line of FlagEmbedding's LLM-Embedder
// (research/llm_embedder, src/retrieval/data.py RetrievalDataset): the task name (the loader
// reads it from the first line and picks the task's instruction and training settings by it),
// positives, negatives and one teacher score per passage, positives first, in the order of
// pos then neg. Answers are kept for LM re-scoring; the loader ignores them for training.
type LLMEmbedderRecord struct {
	Query         string    `json:"query"`
	Pos           []string  `json:"pos"`
	Neg           []string  `json:"neg"`
	TeacherScores []float64 `json:"teacher_scores"`
	Answers       []string  `json:"answers"`
	Task          string    `json:"task"`
}

// LLMEmbedderTasks are the task names LLM-Embedder has instructions and training settings
// for (TASK_CONFIG["llm-embedder"]); retrieval-augmented QA is "qa".
var LLMEmbedderTasks = []string{"qa", "convsearch", "chat", "lrlm", "icl", "tool"}

// ToLLMEmbedder converts a scored record; like ToFlag it needs a positive and a negative
// (the loader's default positive selection takes the first positive, and it drops a line
// without negatives).
func ToLLMEmbedder(s schemas.Scored, sp Split, kind ScoreKind, task string) (LLMEmbedderRecord, string) {
	f, skip := ToFlag(s, sp, kind)
	if skip != "" {
		return LLMEmbedderRecord{}, skip
	}
	answers := s.GoldenAnswers
	if answers == nil {
		answers = []string{}
	}
	return LLMEmbedderRecord{Query: f.Query, Pos: f.Pos, Neg: f.Neg, Answers: answers, Task: task,
		TeacherScores: append(append([]float64{}, f.PosScores...), f.NegScores...)}, ""
}

// Format is an export format.
type Format string

// Export formats.
const (
	FormatFlagEmbedding        Format = "flagembedding"
	FormatSentenceTransformers Format = "sentence-transformers"
	FormatLLMEmbedder          Format = "llm-embedder"
)

// Stats counts what an Exporter did.
type Stats struct {
	Read    int
	Written int
	Skipped map[string]int
}

// Exporter writes scored records as JSON lines of one export format. Not safe for
// concurrent use.
type Exporter struct {
	w         io.Writer
	format    Format
	split     Split
	kind      ScoreKind
	negatives int
	task      string
	stats     Stats
}

// SetTask sets the task name of llm-embedder lines (default "qa").
func (e *Exporter) SetTask(task string) error {
	for _, t := range LLMEmbedderTasks {
		if t == task {
			e.task = task
			return nil
		}
	}
	return fmt.Errorf("task %q: LLM-Embedder knows %s", task, strings.Join(LLMEmbedderTasks, ", "))
}

// NewExporter validates its arguments; negatives is the fixed number of negative columns of
// the sentence-transformers format (ignored for FlagEmbedding).
func NewExporter(w io.Writer, format Format, split Split, kind ScoreKind, negatives int) (*Exporter, error) {
	switch format {
	case FormatFlagEmbedding, FormatLLMEmbedder:
	case FormatSentenceTransformers:
		if negatives < 1 {
			return nil, fmt.Errorf("sentence-transformers export needs at least one negative column, got %d", negatives)
		}
	default:
		return nil, fmt.Errorf("format %q: want %s, %s or %s", format, FormatFlagEmbedding, FormatSentenceTransformers, FormatLLMEmbedder)
	}
	if kind == "" {
		kind = ScoreLogProb
	}
	return &Exporter{w: w, format: format, split: split, kind: kind, negatives: negatives, task: "qa", stats: Stats{Skipped: map[string]int{}}}, nil
}

// Write converts and writes one record (or counts why it was skipped).
func (e *Exporter) Write(s schemas.Scored) error {
	e.stats.Read++
	var v any
	var skip string
	switch e.format {
	case FormatFlagEmbedding:
		v, skip = ToFlag(s, e.split, e.kind)
	case FormatLLMEmbedder:
		v, skip = ToLLMEmbedder(s, e.split, e.kind, e.task)
	default:
		v, skip = ToST(s, e.split, e.negatives, e.kind)
	}
	if skip != "" {
		e.stats.Skipped[skip]++
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("export %s: %w", s.ID, err)
	}
	b = append(b, '\n')
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.stats.Written++
	return nil
}

// Stats returns the counts so far.
func (e *Exporter) Stats() Stats { return e.stats }
