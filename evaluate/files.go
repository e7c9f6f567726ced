package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// BadLine describes one skipped input line.
type BadLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Aggregate is the summary of one evaluation: metric means plus counts. It marshals as one
// flat JSON object, counts first, then metrics in a stable order.
type Aggregate struct {
	Kind     string // "qa" or "retrieval"
	Label    string // optional, e.g. "before" / "after"
	N        int    // lines evaluated
	Bad      int    // lines skipped
	Overlap  int    // evaluated questions also present in the training data
	NGold    int    // retrieval: questions with gold_doc_ids
	Metrics  map[string]float64
	BadLines []BadLine // the first few skipped lines, for the report
}

// MarshalJSON writes {"kind","label"?,"n","bad_lines","train_overlap",["n_gold"],metrics...}.
func (a Aggregate) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"kind":`)
	writeJSON(&b, a.Kind)
	if a.Label != "" {
		b.WriteString(`,"label":`)
		writeJSON(&b, a.Label)
	}
	fmt.Fprintf(&b, `,"n":%d,"bad_lines":%d,"train_overlap":%d`, a.N, a.Bad, a.Overlap)
	if a.Kind == "retrieval" {
		fmt.Fprintf(&b, `,"n_gold":%d`, a.NGold)
	}
	for _, k := range metricOrder(a.Metrics) {
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		b.WriteString(formatFloat(a.Metrics[k]))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes (the report reads eval-*.json files with it).
func (a *Aggregate) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	a.Metrics = map[string]float64{}
	for k, v := range raw {
		var err error
		switch k {
		case "kind":
			err = json.Unmarshal(v, &a.Kind)
		case "label":
			err = json.Unmarshal(v, &a.Label)
		case "n":
			err = json.Unmarshal(v, &a.N)
		case "bad_lines":
			err = json.Unmarshal(v, &a.Bad)
		case "train_overlap":
			err = json.Unmarshal(v, &a.Overlap)
		case "n_gold":
			err = json.Unmarshal(v, &a.NGold)
		default:
			var f float64
			if json.Unmarshal(v, &f) == nil {
				a.Metrics[k] = f
			}
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	return nil
}

func writeJSON(b *bytes.Buffer, v any) {
	enc, _ := json.Marshal(v)
	b.Write(enc)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	return strconv.FormatFloat(f, 'g', 10, 64)
}

// metricOrder sorts metric names: em, f1, acc first, then recall@k by k, gold_recall@k by k,
// then the rest alphabetically.
func metricOrder(m map[string]float64) []string {
	rank := func(k string) (int, int) {
		switch {
		case k == "em":
			return 0, 0
		case k == "f1":
			return 1, 0
		case k == "acc":
			return 2, 0
		case strings.HasPrefix(k, "recall@"):
			n, _ := strconv.Atoi(strings.TrimPrefix(k, "recall@"))
			return 3, n
		case strings.HasPrefix(k, "gold_recall@"):
			n, _ := strconv.Atoi(strings.TrimPrefix(k, "gold_recall@"))
			return 4, n
		}
		return 5, 0
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		gi, ni := rank(keys[i])
		gj, nj := rank(keys[j])
		if gi != gj {
			return gi < gj
		}
		if ni != nj {
			return ni < nj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// maxBadLines is how many skipped lines an Aggregate keeps for display.
const maxBadLines = 20

func (a *Aggregate) bad(n int, err error) {
	a.Bad++
	if len(a.BadLines) < maxBadLines {
		r := schemas.ReasonOf(err)
		if r == "" {
			r = schemas.ReasonInvalid
		}
		detail := err.Error()
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			detail = de.Detail
		}
		a.BadLines = append(a.BadLines, BadLine{Line: n, Reason: r, Detail: detail})
	}
}

// TrainSet holds the ids and normalized questions of training data, to detect leakage.
type TrainSet struct {
	ids       map[string]bool
	questions map[string]bool
	Files     int
	Lines     int
}

// NewTrainSet returns an empty set.
func NewTrainSet() *TrainSet {
	return &TrainSet{ids: map[string]bool{}, questions: map[string]bool{}}
}

// Add reads one training file: scored.jsonl ({"id","query",...}), FlashRAG dataset jsonl
// ({"id","question",...}) or candidates ({"query":{"id","question"}}). Lines it cannot read
// are ignored; it returns how many lines contributed.
func (s *TrainSet) Add(r io.Reader) (int, error) {
	lr := schemas.NewLineReader(r, 0)
	n := 0
	for {
		line, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read training file: %w", err)
		}
		if line.Err != nil {
			continue
		}
		var v struct {
			ID       json.RawMessage `json:"id"`
			Question string          `json:"question"`
			Query    json.RawMessage `json:"query"`
		}
		if json.Unmarshal(line.Bytes, &v) != nil {
			continue
		}
		id := rawID(v.ID)
		q := v.Question
		if len(v.Query) > 0 {
			var qs string
			var qo struct {
				ID       json.RawMessage `json:"id"`
				Question string          `json:"question"`
			}
			if json.Unmarshal(v.Query, &qs) == nil {
				q = qs
			} else if json.Unmarshal(v.Query, &qo) == nil {
				q = qo.Question
				if id == "" {
					id = rawID(qo.ID)
				}
			}
		}
		if id == "" && q == "" {
			continue
		}
		if id != "" {
			s.ids[id] = true
		}
		if nq := textnorm.Normalize(q); nq != "" {
			s.questions[nq] = true
		}
		n++
	}
	s.Files++
	s.Lines += n
	return n, nil
}

// Contains reports whether an evaluation question (by id, or by normalized text) is in the set.
func (s *TrainSet) Contains(id, question string) bool {
	if s == nil {
		return false
	}
	if id != "" && s.ids[id] {
		return true
	}
	nq := textnorm.Normalize(question)
	return nq != "" && s.questions[nq]
}

func rawID(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// predLine is one predictions input line.
type predLine struct {
	ID            json.RawMessage `json:"id"`
	Question      string          `json:"question"`
	Pred          *string         `json:"pred"`
	GoldenAnswers json.RawMessage `json:"golden_answers"`
	Choices       json.RawMessage `json:"choices"`
}

// answers reads golden_answers: strings, or indexes into choices for multiple-choice rows.
func answers(raw, choices json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, schemas.Errorf(schemas.ReasonInvalid, "golden_answers is missing")
	}
	return schemas.GoldenAnswers(raw, choices)
}

// EvalOptions tune EvalPredictionsWith.
type EvalOptions struct {
	// Regex treats gold answers as regular expressions (FlashRAG does for dataset_name
	// "curatedtrec"): see ScoreQARegex.
	Regex bool
}

func decodeObject(b []byte, v any) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return schemas.Errorf(schemas.ReasonNotObject, "line is not a JSON object")
	}
	if err := json.Unmarshal(t, v); err != nil {
		return schemas.Errorf(schemas.ReasonBrokenJSON, "%v", err)
	}
	return nil
}

// EvalPredictions scores every prediction line of r, writes one {"id","em","f1","acc"} line
// per good input line to out (nil: none) and returns the aggregate: means of em, f1, acc and
// FlashRAG's token-level precision and recall.
func EvalPredictions(ctx context.Context, r io.Reader, out io.Writer, train *TrainSet) (Aggregate, error) {
	return EvalPredictionsWith(ctx, r, out, train, EvalOptions{})
}

// EvalPredictionsWith is EvalPredictions with options.
func EvalPredictionsWith(ctx context.Context, r io.Reader, out io.Writer, train *TrainSet, o EvalOptions) (Aggregate, error) {
	agg := Aggregate{Kind: "qa", Metrics: map[string]float64{}}
	var sum QA
	err := eachLine(ctx, r, &agg, func(n int, b []byte) error {
		var p predLine
		if err := decodeObject(b, &p); err != nil {
			return err
		}
		if p.Pred == nil {
			return schemas.Errorf(schemas.ReasonInvalid, "pred is missing")
		}
		gold, err := answers(p.GoldenAnswers, p.Choices)
		if err != nil {
			return err
		}
		id := rawID(p.ID)
		q := ScoreQA(*p.Pred, gold)
		if o.Regex {
			if q, err = ScoreQARegex(*p.Pred, gold); err != nil {
				return schemas.Errorf(schemas.ReasonInvalid, "%v", err)
			}
		}
		sum.EM += q.EM
		sum.F1 += q.F1
		sum.Acc += q.Acc
		sum.Precision += q.Precision
		sum.Recall += q.Recall
		agg.N++
		if train.Contains(id, p.Question) {
			agg.Overlap++
		}
		if out != nil {
			return writeLine(out, struct {
				ID  string  `json:"id"`
				EM  float64 `json:"em"`
				F1  float64 `json:"f1"`
				Acc float64 `json:"acc"`
			}{id, q.EM, q.F1, q.Acc})
		}
		return nil
	})
	if agg.N > 0 {
		agg.Metrics["em"] = sum.EM / float64(agg.N)
		agg.Metrics["f1"] = sum.F1 / float64(agg.N)
		agg.Metrics["acc"] = sum.Acc / float64(agg.N)
		agg.Metrics["precision"] = sum.Precision / float64(agg.N)
		agg.Metrics["recall"] = sum.Recall / float64(agg.N)
	}
	return agg, err
}

// RetrievalLine is one retrieval result: a question with its gold answers, optional gold
// document ids, and its passages best first.
type RetrievalLine struct {
	ID            string            `json:"id"`
	Question      string            `json:"question"`
	GoldenAnswers []string          `json:"golden_answers"`
	GoldDocIDs    []string          `json:"gold_doc_ids,omitempty"`
	Docs          []schemas.Passage `json:"docs"`
	// Retriever is set when the line was a candidates record.
	Retriever schemas.RetrieverInfo `json:"retriever,omitzero"`
}

// DecodeRetrievalLine reads a `lsrflow retrieve` output line or a schemas.Candidates line.
func DecodeRetrievalLine(b []byte) (RetrievalLine, error) {
	var raw struct {
		ID            json.RawMessage       `json:"id"`
		Question      *string               `json:"question"`
		GoldenAnswers json.RawMessage       `json:"golden_answers"`
		Choices       json.RawMessage       `json:"choices"`
		GoldDocIDs    []string              `json:"gold_doc_ids"`
		Query         *json.RawMessage      `json:"query"`
		Docs          *[]schemas.Passage    `json:"docs"`
		Retriever     schemas.RetrieverInfo `json:"retriever"`
	}
	if err := decodeObject(b, &raw); err != nil {
		return RetrievalLine{}, err
	}
	if raw.Docs == nil {
		return RetrievalLine{}, schemas.Errorf(schemas.ReasonInvalid, "docs is missing")
	}
	if raw.Query != nil && raw.Question == nil {
		c, err := schemas.DecodeCandidates(b)
		if err != nil {
			return RetrievalLine{}, err
		}
		return RetrievalLine{ID: c.Query.ID, Question: c.Query.Question, GoldenAnswers: c.Query.GoldenAnswers,
			GoldDocIDs: c.Query.GoldDocIDs, Docs: c.Docs, Retriever: c.Retriever}, nil
	}
	if raw.Question == nil {
		return RetrievalLine{}, schemas.Errorf(schemas.ReasonMissingQuestion, "question is missing")
	}
	gold, err := answers(raw.GoldenAnswers, raw.Choices)
	if err != nil && raw.GoldDocIDs == nil {
		return RetrievalLine{}, err
	}
	return RetrievalLine{ID: rawID(raw.ID), Question: *raw.Question, GoldenAnswers: gold, GoldDocIDs: raw.GoldDocIDs,
		Docs: *raw.Docs, Retriever: raw.Retriever}, nil
}

// RetrievalScores are the metrics of one retrieval line.
type RetrievalScores struct {
	Recall map[int]float64 // recall@k per k
	// Precision is FlashRAG's retrieval_precision_top{k}: the share of the first k passages
	// that contain a gold answer.
	Precision  map[int]float64
	GoldRecall map[int]float64 // nil when the line has no gold_doc_ids
	RR         float64         // reciprocal rank of the first answer-bearing passage
	GoldRR     float64
}

// ScoreRetrieval computes recall@k for each k, gold-document recall@k and reciprocal ranks.
// Questions without gold answers get answer recall 0 (as in FlashRAG).
func ScoreRetrieval(l RetrievalLine, ks []int) RetrievalScores {
	contents := make([]string, len(l.Docs))
	ids := make([]string, len(l.Docs))
	for i, d := range l.Docs {
		contents[i], ids[i] = d.Contents, d.ID
	}
	hits := AnswerHits(contents, l.GoldenAnswers)
	s := RetrievalScores{Recall: map[int]float64{}, Precision: map[int]float64{}, RR: ReciprocalRank(hits)}
	for _, k := range ks {
		s.Recall[k] = RecallAt(hits, k)
		s.Precision[k] = PrecisionAt(hits, k)
	}
	if len(l.GoldDocIDs) > 0 {
		s.GoldRecall = map[int]float64{}
		for _, k := range ks {
			s.GoldRecall[k] = GoldRecallAt(ids, l.GoldDocIDs, k)
		}
		s.GoldRR = ReciprocalRank(GoldHits(ids, l.GoldDocIDs))
	}
	return s
}

// EvalRetrieval scores every retrieval line of r at the cut-offs ks, writes one line per good
// input ({"id","recall@k"...,"gold_recall@k"...,"rr","gold_rr"}) to out (nil: none) and returns
// the aggregate: recall@k, mrr, and, over the questions with gold_doc_ids, gold_recall@k and
// gold_mrr.
func EvalRetrieval(ctx context.Context, r io.Reader, out io.Writer, ks []int, train *TrainSet) (Aggregate, error) {
	agg := Aggregate{Kind: "retrieval", Metrics: map[string]float64{}}
	sums := map[string]float64{}
	err := eachLine(ctx, r, &agg, func(n int, b []byte) error {
		l, err := DecodeRetrievalLine(b)
		if err != nil {
			return err
		}
		s := ScoreRetrieval(l, ks)
		agg.N++
		if train.Contains(l.ID, l.Question) {
			agg.Overlap++
		}
		row := map[string]float64{"rr": s.RR}
		for k, v := range s.Recall {
			key := "recall@" + strconv.Itoa(k)
			sums[key] += v
			row[key] = v
			// FlashRAG's names for the same quantities (flashrag/evaluator/metrics.py)
			sums[FlashRAGRecallName(k)] += v
			sums["retrieval_precision_top"+strconv.Itoa(k)] += s.Precision[k]
		}
		sums["mrr"] += s.RR
		if s.GoldRecall != nil {
			agg.NGold++
			for k, v := range s.GoldRecall {
				key := "gold_recall@" + strconv.Itoa(k)
				sums[key] += v
				row[key] = v
			}
			sums["gold_mrr"] += s.GoldRR
			row["gold_rr"] = s.GoldRR
		}
		if out == nil {
			return nil
		}
		var b2 bytes.Buffer
		b2.WriteString(`{"id":`)
		writeJSON(&b2, l.ID)
		for _, k := range metricOrder(row) {
			b2.WriteByte(',')
			writeJSON(&b2, k)
			b2.WriteByte(':')
			b2.WriteString(formatFloat(row[k]))
		}
		b2.WriteString("}\n")
		if _, err := out.Write(b2.Bytes()); err != nil {
			return &writeError{err}
		}
		return nil
	})
	for k, v := range sums {
		den := agg.N
		if strings.HasPrefix(k, "gold_") {
			den = agg.NGold
		}
		if den > 0 {
			agg.Metrics[k] = v / float64(den)
		}
	}
	return agg, err
}

// writeError marks a failure to write output: it stops the evaluation instead of counting a
// bad line.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return &writeError{err}
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return &writeError{err}
	}
	return nil
}

// eachLine calls fn for every non-blank line of r; errors from fn mark the line bad, except
// write errors and cancellation, which stop the loop.
func eachLine(ctx context.Context, r io.Reader, agg *Aggregate, fn func(n int, b []byte) error) error {
	lr := schemas.NewLineReader(r, 0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", line.Number, err)
		}
		if line.Err != nil {
			agg.bad(line.Number, line.Err)
			continue
		}
		if err := fn(line.Number, line.Bytes); err != nil {
			var we *writeError
			if errors.As(err, &we) {
				return fmt.Errorf("write result of line %d: %w", line.Number, we.err)
			}
			agg.bad(line.Number, err)
		}
	}
}

// ParseCutoffs parses a comma-separated list of positive cut-offs ("1,5,20"), sorted and
// de-duplicated.
func ParseCutoffs(s string) ([]int, error) {
	seen := map[int]bool{}
	var ks []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k <= 0 {
			return nil, fmt.Errorf("cut-off %q is not a positive integer", f)
		}
		if !seen[k] {
			seen[k] = true
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return nil, errors.New("no cut-offs given")
	}
	sort.Ints(ks)
	return ks, nil
}
