package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Lexical is the lexical side of a hybrid retriever (BM25): its lists give each training
// query the normalized lexical score of its passages (retrieval.Retriever satisfies it).
type Lexical interface {
	Search(ctx context.Context, question string, k int) ([]schemas.Passage, error)
}

// LexFetch is how many lexical hits per question are kept: the hybrid retriever's over-fetch
// for k = 20 (hybrid.Options defaults: max(4k, 100)).
const LexFetch = 100

// lexList holds the min-max normalized lexical scores of one question's lexical top list,
// by index ordinal (sorted), as hybrid.Fuse normalizes them.
type lexList struct {
	ords []int64
	vals []float32
}

func (l lexList) score(ord int64) float64 {
	i := sort.Search(len(l.ords), func(i int) bool { return l.ords[i] >= ord })
	if i < len(l.ords) && l.ords[i] == ord {
		return float64(l.vals[i])
	}
	return 0
}

// Example is one training query: its embedding, candidate rows and teacher distribution.
type Example struct {
	ID, Question string
	Q            []float64
	Rows         []int32
	Teacher      []float64
	best         int32 // row of the teacher's most probable candidate (in-batch negative)
	lex          lexList
	key, digest  string
}

// Dataset is the set of training examples: at most Window of them (the newest), their
// passage vectors held in a Passages cache.
type Dataset struct {
	Examples []Example
	// Skipped counts records not used, by reason: "duplicate", "invalid", "uniform",
	// "empty", "excluded" (rejected by the Exclude filter).
	Skipped map[string]int
	// KeepUniform keeps records whose teacher distribution is uniform (no preference).
	KeepUniform bool
	// Exclude, when set, rejects records (e.g. evaluation questions: the leakage guard).
	Exclude func(rec schemas.Scored) bool
	// Window bounds the examples kept (0: no bound); adding beyond it evicts the oldest.
	Window int
	// Lexical, when set, scores each question's passages lexically (hybrid training).
	Lexical Lexical
	// Evicted counts examples dropped by the window.
	Evicted int

	pass    *Passages
	emb     embed.Embedder
	seen    map[string]bool     // dedup keys of the examples held
	trained map[string]struct{} // ids of every query ever added (leakage guard)
	hashes  map[string]struct{} // their question hashes
}

// NewDataset returns an empty dataset whose passage vectors live in pass; emb embeds the
// questions (kind Query) and passages absent from the index (kind Passage).
func NewDataset(pass *Passages, emb embed.Embedder) *Dataset {
	return &Dataset{Skipped: map[string]int{}, seen: map[string]bool{}, pass: pass, emb: emb,
		trained: map[string]struct{}{}, hashes: map[string]struct{}{}}
}

// Key is the example's record dedup key (query id, teacher).
func (e *Example) Key() string { return e.key }

// Passages is the vector cache the examples' rows index.
func (ds *Dataset) Passages() *Passages { return ds.pass }

// Len is the number of examples.
func (ds *Dataset) Len() int { return len(ds.Examples) }

// Has reports whether a record with this dedup key is held.
func (ds *Dataset) Has(key string) bool { return ds.seen[key] }

func isUniform(p []float64) bool {
	if len(p) == 0 {
		return true
	}
	u := 1 / float64(len(p))
	for _, x := range p {
		if math.Abs(x-u) > 1e-9 {
			return false
		}
	}
	return true
}

// Usable reports why a record would not become an example ("" when it would): invalid,
// empty, excluded or (unless KeepUniform) uniform. Duplicates are not checked.
func (ds *Dataset) Usable(r schemas.Scored) string {
	switch {
	case r.Validate() != nil:
		return "invalid"
	case len(r.Pos) == 0:
		return "empty"
	case ds.Exclude != nil && ds.Exclude(r):
		return "excluded"
	case !ds.KeepUniform && isUniform(r.Scores):
		return "uniform"
	}
	return ""
}

// Add turns scored records into examples: it dedupes on (id, teacher), skips unusable
// records (Usable), finds each candidate's index ordinal (embedding passages unknown to the
// index from the record's text), embeds the questions, fetches the lexical lists when
// Lexical is set, and evicts the oldest examples beyond Window. It returns how many
// examples were added.
func (ds *Dataset) Add(ctx context.Context, recs []schemas.Scored) (int, error) {
	var keep []schemas.Scored
	batchSeen := map[string]bool{}
	for _, r := range recs {
		k := r.DedupKey()
		if ds.seen[k] || batchSeen[k] {
			ds.Skipped["duplicate"]++
			continue
		}
		if why := ds.Usable(r); why != "" {
			ds.Skipped[why]++
			continue
		}
		batchSeen[k] = true
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		return 0, nil
	}
	if ds.Window > 0 && len(keep) > ds.Window {
		ds.Evicted += len(keep) - ds.Window
		keep = keep[len(keep)-ds.Window:]
	}
	qs := make([]string, len(keep))
	for i, r := range keep {
		qs[i] = r.Query
	}
	qv, err := ds.emb.Embed(ctx, qs, embed.Query)
	if err != nil {
		return 0, fmt.Errorf("train: embed questions: %w", err)
	}
	if len(qv) != len(qs) {
		return 0, fmt.Errorf("train: embedder returned %d vectors for %d questions", len(qv), len(qs))
	}
	lex := make([]lexList, len(keep))
	if ds.Lexical != nil {
		for i, r := range keep {
			if lex[i], err = ds.lexList(ctx, r.Query); err != nil {
				return 0, err
			}
		}
	}
	p := ds.pass
	for i, r := range keep {
		if len(qv[i]) != p.D {
			return 0, fmt.Errorf("train: question vector of %d dimensions, want %d", len(qv[i]), p.D)
		}
		rows, err := ds.candidateRows(ctx, r)
		if err != nil {
			return 0, err
		}
		ex := Example{ID: r.ID, Question: r.Query, Q: make([]float64, p.D), lex: lex[i], key: r.DedupKey(), digest: recordDigest(r)}
		for j, x := range qv[i] {
			ex.Q[j] = float64(x)
		}
		at := map[int32]int{}
		for j, row := range rows {
			if k, dup := at[row]; dup { // the same passage twice: merge its mass
				ex.Teacher[k] += r.Scores[j]
				p.Release([]int32{row})
				continue
			}
			at[row] = len(ex.Rows)
			ex.Rows = append(ex.Rows, row)
			ex.Teacher = append(ex.Teacher, r.Scores[j])
		}
		bestP := -1.0
		for j, t := range ex.Teacher {
			if t > bestP {
				bestP, ex.best = t, ex.Rows[j]
			}
		}
		ds.Examples = append(ds.Examples, ex)
		ds.seen[ex.key] = true
		ds.trained[r.ID] = struct{}{}
		if h := QuestionHash(r.Query); h != "" {
			ds.hashes[h] = struct{}{}
		}
	}
	if ds.Window > 0 && len(ds.Examples) > ds.Window {
		drop := len(ds.Examples) - ds.Window
		for _, ex := range ds.Examples[:drop] {
			p.Release(ex.Rows)
			delete(ds.seen, ex.key)
		}
		ds.Examples = append([]Example(nil), ds.Examples[drop:]...)
		ds.Evicted += drop
	}
	return len(keep), nil
}

// candidateRows acquires the rows of a record's passages, in record order.
func (ds *Dataset) candidateRows(ctx context.Context, r schemas.Scored) ([]int32, error) {
	p := ds.pass
	rows := make([]int32, len(r.PassageIDs))
	var ords []int64
	var at []int
	var xIDs, xTexts []string
	var xAt []int
	for j, id := range r.PassageIDs {
		if o, ok := p.Ordinal(id); ok {
			ords, at = append(ords, o), append(at, j)
		} else {
			xIDs, xTexts, xAt = append(xIDs, id), append(xTexts, r.Pos[j]), append(xAt, j)
		}
	}
	got, err := p.Acquire(ords)
	if err != nil {
		return nil, err
	}
	for i, j := range at {
		rows[j] = got[i]
	}
	if len(xIDs) > 0 {
		xr, err := p.AcquireExtra(ctx, ds.emb, xIDs, xTexts)
		if err != nil {
			p.Release(got)
			return nil, err
		}
		for i, j := range xAt {
			rows[j] = xr[i]
		}
	}
	return rows, nil
}

// lexList fetches question's lexical top list and min-max normalizes it (hybrid.Fuse's
// normalization; a list of equal scores normalizes to 1).
func (ds *Dataset) lexList(ctx context.Context, question string) (lexList, error) {
	ps, err := ds.Lexical.Search(ctx, question, LexFetch)
	if err != nil {
		return lexList{}, fmt.Errorf("train: lexical search: %w", err)
	}
	return normalizeLex(ps, ds.pass), nil
}

func normalizeLex(ps []schemas.Passage, p *Passages) lexList {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range ps {
		lo, hi = math.Min(lo, x.Score), math.Max(hi, x.Score)
	}
	type e struct {
		o int64
		v float32
	}
	var es []e
	seen := map[int64]bool{}
	for _, x := range ps {
		o, ok := p.Ordinal(x.ID)
		if !ok || seen[o] {
			continue
		}
		seen[o] = true
		v := 1.0
		if hi > lo {
			v = (x.Score - lo) / (hi - lo)
		}
		es = append(es, e{o, float32(v)})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].o < es[j].o })
	l := lexList{ords: make([]int64, len(es)), vals: make([]float32, len(es))}
	for i, x := range es {
		l.ords[i], l.vals[i] = x.o, x.v
	}
	return l
}

// LexScore is the normalized lexical score of row r for example i (0 without lexical lists).
func (ds *Dataset) LexScore(i int, r int32) float64 {
	o := ds.pass.RowOrdinal(r)
	if o < 0 {
		return 0
	}
	return ds.Examples[i].lex.score(o)
}

// HasLexical reports whether the examples carry lexical lists.
func (ds *Dataset) HasLexical() bool { return ds.Lexical != nil }

func recordDigest(r schemas.Scored) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", r.ID, r.TeacherKey, r.Query)
	var b [8]byte
	for j, id := range r.PassageIDs {
		h.Write([]byte(id))
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(r.Scores[j]))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Digest is an order-independent digest of the records held.
func (ds *Dataset) Digest() string {
	ds2 := make([]string, len(ds.Examples))
	for i, e := range ds.Examples {
		ds2[i] = e.digest
	}
	sort.Strings(ds2)
	h := sha256.New()
	for _, d := range ds2 {
		h.Write([]byte(d))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// QuestionHash is the leakage guard's key of a question: a digest of textnorm.Normalize(q)
// ("" for a question that normalizes to nothing).
func QuestionHash(q string) string {
	n := textnorm.Normalize(q)
	if n == "" {
		return ""
	}
	s := sha256.Sum256([]byte(n))
	return hex.EncodeToString(s[:8])
}

// TrainIdentity returns the sorted ids and question hashes of every query ever added
// (evicted ones too: they shaped the parameters) and a digest of both.
func (ds *Dataset) TrainIdentity() (ids, hashes []string, digest string) {
	for k := range ds.trained {
		ids = append(ids, k)
	}
	for k := range ds.hashes {
		hashes = append(hashes, k)
	}
	sort.Strings(ids)
	sort.Strings(hashes)
	h := sha256.New()
	for _, s := range ids {
		h.Write([]byte(s + "\n"))
	}
	h.Write([]byte{0})
	for _, s := range hashes {
		h.Write([]byte(s + "\n"))
	}
	return ids, hashes, hex.EncodeToString(h.Sum(nil)[:16])
}

// AddIdentity records queries trained on before (a restored trainer's checkpoint).
func (ds *Dataset) AddIdentity(ids, hashes []string) {
	for _, id := range ids {
		ds.trained[id] = struct{}{}
	}
	for _, h := range hashes {
		ds.hashes[h] = struct{}{}
	}
}
