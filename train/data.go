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

// DocSource is the index's passage store (retrieval/docstore.Reader satisfies it).
type DocSource interface {
	Len() int
	Doc(ord int) (id, contents string, err error)
}

// Passages is the passage embedding table: rows [0, Corpus) are the index's passages by
// docstore ordinal; later rows are passages met in records but absent from the index.
type Passages struct {
	D      int
	Vecs   []float64
	IDs    []string
	Corpus int
	ord    map[string]int
}

// EmbedCorpus embeds every passage of docs with emb (kind Passage), in batches.
func EmbedCorpus(ctx context.Context, emb embed.Embedder, docs DocSource) (*Passages, error) {
	n := docs.Len()
	p := &Passages{D: emb.Dim(), ord: make(map[string]int, n), Vecs: make([]float64, 0, n*emb.Dim())}
	const batch = 256
	texts := make([]string, 0, batch)
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		texts = texts[:0]
		for i := lo; i < hi; i++ {
			id, c, err := docs.Doc(i)
			if err != nil {
				return nil, fmt.Errorf("train: passage %d: %w", i, err)
			}
			texts = append(texts, c)
			p.IDs = append(p.IDs, id)
			if _, dup := p.ord[id]; !dup {
				p.ord[id] = i
			}
		}
		vecs, err := emb.Embed(ctx, texts, embed.Passage)
		if err != nil {
			return nil, fmt.Errorf("train: embed passages: %w", err)
		}
		if len(vecs) != len(texts) {
			return nil, fmt.Errorf("train: embedder returned %d vectors for %d passages", len(vecs), len(texts))
		}
		for _, v := range vecs {
			if err := p.append(v); err != nil {
				return nil, err
			}
		}
	}
	p.Corpus = n
	return p, nil
}

func (p *Passages) append(v []float32) error {
	if len(v) != p.D {
		return fmt.Errorf("train: vector of %d dimensions, want %d", len(v), p.D)
	}
	for _, x := range v {
		p.Vecs = append(p.Vecs, float64(x))
	}
	return nil
}

// Len is the number of rows.
func (p *Passages) Len() int { return len(p.IDs) }

// Lookup returns the row of passage id.
func (p *Passages) Lookup(id string) (int, bool) {
	r, ok := p.ord[id]
	return r, ok
}

// Example is one training query: its embedding, candidate rows and teacher distribution.
type Example struct {
	ID, Question string
	Q            []float64
	Rows         []int32
	Teacher      []float64
	best         int32 // row of the teacher's most probable candidate (in-batch negative)
}

// Dataset is the growing set of training examples.
type Dataset struct {
	Examples []Example
	// Skipped counts records not used, by reason: "duplicate", "invalid", "uniform",
	// "empty", "excluded" (rejected by the Exclude filter).
	Skipped map[string]int
	// KeepUniform keeps records whose teacher distribution is uniform (no preference).
	KeepUniform bool
	// Exclude, when set, rejects records (e.g. evaluation questions: the leakage guard).
	Exclude func(rec schemas.Scored) bool
	seen    map[string]bool
	digests []string
}

// NewDataset returns an empty dataset.
func NewDataset() *Dataset {
	return &Dataset{Skipped: map[string]int{}, seen: map[string]bool{}}
}

// Len is the number of examples.
func (ds *Dataset) Len() int { return len(ds.Examples) }

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

// Add turns scored records into examples: it dedupes on (id, teacher), skips invalid and
// (unless KeepUniform) uniform ones, finds each candidate's row (embedding passages unknown to
// the index from the record's text) and embeds the questions with emb (kind Query). It
// returns how many examples were added.
func (ds *Dataset) Add(ctx context.Context, emb embed.Embedder, pass *Passages, recs []schemas.Scored) (int, error) {
	var keep []schemas.Scored
	for _, r := range recs {
		k := r.DedupKey()
		if ds.seen[k] {
			ds.Skipped["duplicate"]++
			continue
		}
		if err := r.Validate(); err != nil {
			ds.Skipped["invalid"]++
			continue
		}
		if len(r.Pos) == 0 {
			ds.Skipped["empty"]++
			continue
		}
		if ds.Exclude != nil && ds.Exclude(r) {
			ds.Skipped["excluded"]++
			continue
		}
		if !ds.KeepUniform && isUniform(r.Scores) {
			ds.Skipped["uniform"]++
			continue
		}
		ds.seen[k] = true
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		return 0, nil
	}
	// passages unknown to the index
	var newIDs, newTexts []string
	pending := map[string]bool{}
	for _, r := range keep {
		for j, id := range r.PassageIDs {
			if _, ok := pass.Lookup(id); !ok && !pending[id] {
				pending[id] = true
				newIDs = append(newIDs, id)
				newTexts = append(newTexts, r.Pos[j])
			}
		}
	}
	if len(newTexts) > 0 {
		vecs, err := emb.Embed(ctx, newTexts, embed.Passage)
		if err != nil {
			return 0, fmt.Errorf("train: embed passages: %w", err)
		}
		for i, v := range vecs {
			if err := pass.append(v); err != nil {
				return 0, err
			}
			pass.ord[newIDs[i]] = len(pass.IDs)
			pass.IDs = append(pass.IDs, newIDs[i])
		}
	}
	qs := make([]string, len(keep))
	for i, r := range keep {
		qs[i] = r.Query
	}
	qv, err := emb.Embed(ctx, qs, embed.Query)
	if err != nil {
		return 0, fmt.Errorf("train: embed questions: %w", err)
	}
	if len(qv) != len(qs) {
		return 0, fmt.Errorf("train: embedder returned %d vectors for %d questions", len(qv), len(qs))
	}
	for i, r := range keep {
		if len(qv[i]) != pass.D {
			return 0, fmt.Errorf("train: question vector of %d dimensions, want %d", len(qv[i]), pass.D)
		}
		ex := Example{ID: r.ID, Question: r.Query, Q: make([]float64, pass.D)}
		for j, x := range qv[i] {
			ex.Q[j] = float64(x)
		}
		seenRow := map[int32]int{}
		bestP := -1.0
		for j, id := range r.PassageIDs {
			row, _ := pass.Lookup(id)
			r32 := int32(row)
			if at, dup := seenRow[r32]; dup { // the same passage twice: merge its mass
				ex.Teacher[at] += r.Scores[j]
				continue
			}
			seenRow[r32] = len(ex.Rows)
			ex.Rows = append(ex.Rows, r32)
			ex.Teacher = append(ex.Teacher, r.Scores[j])
		}
		for j, t := range ex.Teacher {
			if t > bestP {
				bestP, ex.best = t, ex.Rows[j]
			}
		}
		ds.Examples = append(ds.Examples, ex)
		ds.digests = append(ds.digests, recordDigest(r))
	}
	return len(keep), nil
}

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

// Digest is an order-independent digest of the training records.
func (ds *Dataset) Digest() string {
	ds2 := append([]string(nil), ds.digests...)
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

// TrainIdentity returns the sorted training query ids and question hashes and a digest of both.
func (ds *Dataset) TrainIdentity() (ids, hashes []string, digest string) {
	idSet, hSet := map[string]bool{}, map[string]bool{}
	for _, e := range ds.Examples {
		idSet[e.ID] = true
		if h := QuestionHash(e.Question); h != "" {
			hSet[h] = true
		}
	}
	for k := range idSet {
		ids = append(ids, k)
	}
	for k := range hSet {
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
