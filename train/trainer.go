package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
)

// Config are the training hyper-parameters. Zero values take the defaults (DefaultConfig).
type Config struct {
	Steps     int     // optimizer steps (per Train call of the CLI)
	Batch     int     // queries per mini-batch
	LR        float64 // Adam learning rate
	Gamma     float64 // retriever softmax temperature
	L2        float64 // weight of ‖W − I‖²_F
	Negatives int     // random corpus negatives per query (-1: none)
	// NoInBatch disables in-batch negatives (the other queries' best candidates).
	NoInBatch bool
	Rank      int    // 0: full d×d; r > 0: W = I + U Vᵀ with U, V of d×r
	Seed      uint64 // seeds batches, negatives and the low-rank init
	// Cosine scores passages against the normalized adapted query in the loss.
	Cosine bool
	// NegPool is the number of index passages random negatives are drawn from (default
	// 8192; the whole corpus when it is smaller). The pool is sampled once from the seed and
	// its vectors fetched from the index, so memory does not grow with the corpus.
	NegPool int
	// LearnLex learns the lexical weight λ of a hybrid retriever (hybrid.Linear fusion)
	// together with W; the dataset needs lexical lists (Dataset.Lexical). LexInit is λ at
	// the start (default 0.5).
	LearnLex bool
	LexInit  float64
}

// DefaultConfig is what the QED test measured (see train/qed_test.go).
func DefaultConfig() Config {
	return Config{Steps: 2000, Batch: 64, LR: 5e-4, Gamma: 0.02, L2: 0.1, Negatives: 64, Seed: 1}
}

// WithDefaults fills zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Steps == 0 {
		c.Steps = d.Steps
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Gamma == 0 {
		c.Gamma = d.Gamma
	}
	if c.Negatives == 0 {
		c.Negatives = d.Negatives
	}
	if c.Negatives < 0 {
		c.Negatives = 0
	}
	if c.NegPool == 0 {
		c.NegPool = 8192
	}
	if c.LexInit == 0 {
		c.LexInit = 0.5
	}
	return c
}

// Validate checks the configuration (after WithDefaults).
func (c Config) Validate() error {
	switch {
	case c.Steps < 0 || c.Batch <= 0:
		return fmt.Errorf("train: steps must be >= 0 and batch > 0 (got %d, %d)", c.Steps, c.Batch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: lr must be a finite number > 0, got %v", c.LR)
	case !(c.Gamma > 0) || math.IsInf(c.Gamma, 0):
		return fmt.Errorf("train: gamma must be a finite number > 0, got %v", c.Gamma)
	case !(c.L2 >= 0) || math.IsInf(c.L2, 0):
		return fmt.Errorf("train: l2 must be a finite number >= 0, got %v", c.L2)
	case c.Rank < 0:
		return fmt.Errorf("train: rank must be >= 0, got %d", c.Rank)
	case c.NegPool < 0:
		return fmt.Errorf("train: the negative pool must be >= 0, got %d", c.NegPool)
	case c.LearnLex && c.Cosine:
		return errors.New("train: a learned lexical weight needs dot-product scores (not cosine): the served hybrid adds it to the raw dense score")
	case c.LearnLex && (!(c.LexInit > 0) || math.IsInf(c.LexInit, 0)):
		return fmt.Errorf("train: the initial lexical weight must be a finite number > 0, got %v", c.LexInit)
	}
	return nil
}

// Hyper returns the configuration as checkpoint metadata.
func (c Config) Hyper() map[string]float64 {
	inb := 1.0
	if c.NoInBatch {
		inb = 0
	}
	return map[string]float64{"batch": float64(c.Batch), "lr": c.LR, "gamma": c.Gamma, "l2": c.L2,
		"negatives": float64(c.Negatives), "in_batch": inb, "rank": float64(c.Rank), "cosine": b2f(c.Cosine),
		"neg_pool": float64(c.NegPool), "learn_lex": b2f(c.LearnLex), "lex_init": c.LexInit}
}

// Trainer owns the parameters, the optimizer and the sampling state. It is not safe for
// concurrent use.
type Trainer struct {
	Cfg    Config
	Data   *Dataset
	Params *Params
	// LexWeight is the fixed lexical weight of the hybrid the loss scores with when it is
	// not learned (0: a dense-only loss). Set it between Train calls (e.g. to a weight tuned
	// on held-out queries): the adapter then learns to complement BM25 as it will be fused.
	LexWeight float64
	StepsDone int
	LastLoss  float64
	opt       *Adam
	src       *rand.PCG
	rng       *rand.Rand
	perm      []int
	pos       int
	pool      []int32 // rows of the random-negative pool
}

// NewTrainer starts at W = I (and λ = LexInit when it is learned), drawing the negative pool
// from the index behind data's passages.
func NewTrainer(cfg Config, data *Dataset) (*Trainer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if data == nil || data.pass == nil || data.pass.D <= 0 {
		return nil, errors.New("train: a dataset over passage vectors is required")
	}
	if cfg.LearnLex && !data.HasLexical() {
		return nil, errors.New("train: learning the lexical weight needs lexical lists (a hybrid index)")
	}
	src := rand.NewPCG(cfg.Seed, 0x6c7372666c6f77)
	rng := rand.New(src)
	t := &Trainer{Cfg: cfg, Data: data, Params: NewParams(data.pass.D, cfg.Rank, rng), opt: NewAdam(cfg.LR), src: src, rng: rng}
	if cfg.LearnLex {
		t.Params.LogLex = []float64{math.Log(cfg.LexInit)}
	}
	if cfg.Negatives > 0 {
		rows, err := data.pass.Acquire(samplePool(rng, data.pass.Corpus, cfg.NegPool))
		if err != nil {
			return nil, err
		}
		t.pool = rows
	}
	return t, nil
}

// samplePool draws min(n, size) distinct ordinals of [0, n) (Floyd's algorithm), sorted.
func samplePool(rng *rand.Rand, n, size int) []int64 {
	if size >= n {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	in := make(map[int64]bool, size)
	out := make([]int64, 0, size)
	for j := n - size; j < n; j++ {
		v := int64(rng.IntN(j + 1))
		if in[v] {
			v = int64(j)
		}
		in[v] = true
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Close releases the negative pool's rows.
func (t *Trainer) Close() {
	if t.pool != nil {
		t.Data.pass.Release(t.pool)
		t.pool = nil
	}
}

// nextBatch returns the example indices of the next mini-batch (epochs of shuffled order; a
// grown dataset starts a new epoch).
func (t *Trainer) nextBatch() []int {
	n := t.Data.Len()
	b := min(t.Cfg.Batch, n)
	if len(t.perm) != n || t.pos+b > n {
		t.perm = t.rng.Perm(n)
		t.pos = 0
	}
	out := t.perm[t.pos : t.pos+b]
	t.pos += b
	return out
}

// Batch draws the next mini-batch with its negatives.
func (t *Trainer) Batch() []Item {
	idx := t.nextBatch()
	items := make([]Item, len(idx))
	lex := (t.Params.LogLex != nil || t.LexWeight > 0) && t.Data.HasLexical()
	for bi, ei := range idx {
		ex := &t.Data.Examples[ei]
		rows := append(make([]int32, 0, len(ex.Rows)+t.Cfg.Negatives+len(idx)), ex.Rows...)
		teach := append(make([]float64, 0, cap(rows)), ex.Teacher...)
		in := make(map[int32]bool, cap(rows))
		for _, r := range ex.Rows {
			in[r] = true
		}
		if len(t.pool) > 0 {
			for k, tries := 0, 0; k < t.Cfg.Negatives && tries < 4*t.Cfg.Negatives; tries++ {
				r := t.pool[t.rng.IntN(len(t.pool))]
				if in[r] {
					continue
				}
				in[r] = true
				rows, teach = append(rows, r), append(teach, 0)
				k++
			}
		}
		if !t.Cfg.NoInBatch {
			for oj, oi := range idx {
				if oj == bi {
					continue
				}
				r := t.Data.Examples[oi].best
				if in[r] {
					continue
				}
				in[r] = true
				rows, teach = append(rows, r), append(teach, 0)
			}
		}
		it := Item{Q: ex.Q, Rows: rows, Teacher: teach}
		if lex {
			it.Lex = make([]float64, len(rows))
			for j, r := range rows {
				it.Lex[j] = t.Data.LexScore(ei, r)
			}
		}
		items[bi] = it
	}
	return items
}

// Objective returns the loss over items.
func (t *Trainer) Objective(items []Item) *Objective {
	p := t.Data.pass
	return &Objective{Passages: p.Vecs(), D: p.D, Gamma: t.Cfg.Gamma, L2: t.Cfg.L2, Cosine: t.Cfg.Cosine, LexWeight: t.LexWeight, Items: items}
}

// Train runs steps optimizer steps (ctx is checked between steps).
func (t *Trainer) Train(ctx context.Context, steps int) error {
	if t.Data.Len() == 0 {
		return errors.New("train: no training examples")
	}
	for range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		loss, g := t.Objective(t.Batch()).Gradient(t.Params)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("train: loss became %v at step %d", loss, t.StepsDone)
		}
		t.opt.Step(t.Params, g)
		t.StepsDone++
		t.LastLoss = loss
	}
	return nil
}

// CheckpointInfo is what a checkpoint records beyond the trainer's own state.
type CheckpointInfo struct {
	Version      int
	BaseEmbedder string
	IndexVersion string
	EvalSet      string
	EvalOverlap  int
	Metrics      map[string]float64
	Baseline     map[string]float64
	// Serving names the retriever the adapter is trained for and its fusion weights.
	Serving adapter.Serving
}

// Adapter returns the current parameters as an adapter with full checkpoint metadata.
func (t *Trainer) Adapter(ci CheckpointInfo) (*adapter.Linear, error) {
	ids, hashes, digest := t.Data.TrainIdentity()
	meta := adapter.Metadata{
		Version: ci.Version, BaseEmbedder: ci.BaseEmbedder, IndexVersion: ci.IndexVersion, Rank: t.Params.Rank,
		DataDigest: t.Data.Digest(), Records: t.Data.Len(), Seed: t.Cfg.Seed, Steps: t.StepsDone,
		Hyper: t.Cfg.Hyper(), Metrics: ci.Metrics, Baseline: ci.Baseline, EvalSet: ci.EvalSet, EvalOverlap: ci.EvalOverlap,
		TrainIDs: ids, TrainQuestionHashes: hashes, TrainDigest: digest, Created: time.Now().UTC(),
	}
	meta.Serving = ci.Serving
	return adapter.NewLinear(t.Data.pass.D, t.Params.W(), meta)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
