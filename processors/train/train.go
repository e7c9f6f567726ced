package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/train"
)

// UpdateVersion is the schema version of Update records.
const UpdateVersion = 1

// UpdateKey is the message key of every update (a compacted topic keeps the latest).
const UpdateKey = "adapter"

// ReasonEvalLeak is the dead-letter reason of a training record that is an evaluation question.
const ReasonEvalLeak = "eval_leak"

// MaxInline is the largest checkpoint carried inside an Update message.
const MaxInline = 512 << 10

// Update announces a published adapter checkpoint.
type Update struct {
	SchemaVersion  int                `json:"schema_version"`
	Version        int                `json:"version"`
	AdapterVersion string             `json:"adapter_version"`
	BaseEmbedder   string             `json:"base_embedder"`
	Path           string             `json:"path,omitempty"`
	SHA256         string             `json:"sha256"`
	Metrics        map[string]float64 `json:"metrics,omitempty"`
	Baseline       map[string]float64 `json:"baseline,omitempty"`
	Records        int                `json:"records"`
	Steps          int                `json:"steps"`
	Time           time.Time          `json:"time"`
	// Checkpoint holds the safetensors bytes when they fit in MaxInline.
	Checkpoint []byte `json:"checkpoint,omitempty"`
}

// Round reports one training round.
type Round struct {
	Candidate int                `json:"candidate_version"`
	Published bool               `json:"published"`
	Records   int                `json:"records"`
	Steps     int                `json:"steps"`
	Loss      float64            `json:"loss"`
	Metrics   map[string]float64 `json:"metrics"`
	Current   map[string]float64 `json:"current"`
	Overlap   int                `json:"eval_overlap"`
	Path      string             `json:"path,omitempty"`
	Seconds   float64            `json:"seconds"`
}

// Options configure the train stage.
type Options struct {
	Trainer   *train.Trainer
	Embedder  embed.Embedder
	Evaluator *train.Evaluator
	// Every trains after this many new records (default 256); Interval also trains when a
	// record arrives this long after the last round (0: off).
	Every         int
	Interval      time.Duration
	StepsPerRound int     // default 500
	Tolerance     float64 // per-cutoff drop allowed by NotWorse (default 0)
	Dir           string  // checkpoints are written here as adapter-v<N>.safetensors
	UpdatesTopic  string
	IndexVersion  string
	// Force trains on evaluation questions anyway (counted in EvalOverlap).
	Force   bool
	OnRound func(Round)
	// Evaluate replaces Evaluator.Eval (custom metrics; tests). Evaluator still supplies the
	// evaluation questions (leakage guard) and the cutoffs.
	Evaluate func(ctx context.Context, a *adapter.Linear) (map[string]float64, error)
	// Now is the clock (tests).
	Now func() time.Time
}

// Processor is the train stage. See the package documentation.
type Processor struct {
	o       Options
	guard   *train.LeakGuard
	mu      sync.Mutex
	pending []schemas.Scored
	last    time.Time
	version int
	current map[string]float64
	base    map[string]float64
	overlap int
	rounds  []Round
	// evaluate is Evaluator.Eval unless a test replaces it.
	evaluate func(ctx context.Context, a *adapter.Linear) (map[string]float64, error)
}

// New validates o, evaluates the untrained retriever (the version-0 baseline) and returns the stage.
func New(ctx context.Context, o Options) (*Processor, error) {
	if o.Trainer == nil || o.Embedder == nil || o.Evaluator == nil {
		return nil, errors.New("train stage: trainer, embedder and evaluator are required")
	}
	if o.Dir == "" || o.UpdatesTopic == "" {
		return nil, errors.New("train stage: a checkpoint directory and an updates topic are required")
	}
	if o.Every <= 0 {
		o.Every = 256
	}
	if o.StepsPerRound <= 0 {
		o.StepsPerRound = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Processor{o: o, guard: train.NewLeakGuard(), last: o.Now(), evaluate: o.Evaluator.Eval}
	if o.Evaluate != nil {
		p.evaluate = o.Evaluate
	}
	for _, q := range o.Evaluator.Queries {
		p.guard.Add(q.ID, q.Question)
	}
	base, err := p.evaluate(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("train stage: baseline evaluation: %w", err)
	}
	p.base, p.current = base, base
	return p, nil
}

// Version is the last published version (0: none).
func (p *Processor) Version() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// Rounds returns the rounds so far.
func (p *Processor) Rounds() []Round {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Round(nil), p.rounds...)
}

// Warm adds records (e.g. the scored sink's file after a restart) without training.
func (p *Processor) Warm(ctx context.Context, recs []schemas.Scored) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		if err := p.admit(r); err == nil {
			p.pending = append(p.pending, r)
		}
	}
	_, err := p.o.Trainer.Data.Add(ctx, p.o.Embedder, p.o.Trainer.Pass, p.pending)
	p.pending = nil
	return err
}

func (p *Processor) admit(r schemas.Scored) error {
	// guard: an evaluation question must not be trained on
	if q := p.guard; q.Contains(r.ID, r.Query) {
		if !p.o.Force {
			return streams.Permanent(ReasonEvalLeak, fmt.Errorf("train: query %s is an evaluation question (leakage); refused", r.ID))
		}
		p.overlap++
	}
	return nil
}

// Process implements streams.Processor.
func (p *Processor) Process(ctx context.Context, m streams.Message) ([]streams.Message, error) {
	rec, err := schemas.DecodeScored(m.Value)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.admit(rec); err != nil {
		return nil, err
	}
	p.pending = append(p.pending, rec)
	due := len(p.pending) >= p.o.Every || (p.o.Interval > 0 && p.o.Now().Sub(p.last) >= p.o.Interval)
	if !due {
		return nil, nil
	}
	out, err := p.round(ctx)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// round trains on everything so far and publishes the candidate when it is not worse.
func (p *Processor) round(ctx context.Context) ([]streams.Message, error) {
	start := time.Now()
	tr := p.o.Trainer
	if _, err := tr.Data.Add(ctx, p.o.Embedder, tr.Pass, p.pending); err != nil {
		return nil, err
	}
	p.pending = nil
	p.last = p.o.Now()
	if tr.Data.Len() == 0 {
		return nil, nil
	}
	if err := tr.Train(ctx, p.o.StepsPerRound); err != nil {
		return nil, err
	}
	ci := train.CheckpointInfo{Version: p.version + 1, BaseEmbedder: p.o.Embedder.Name(), IndexVersion: p.o.IndexVersion,
		EvalOverlap: p.overlap, Baseline: p.base}
	a, err := tr.Adapter(ci)
	if err != nil {
		return nil, err
	}
	metrics, err := p.evaluate(ctx, a)
	if err != nil {
		return nil, err
	}
	r := Round{Candidate: ci.Version, Records: tr.Data.Len(), Steps: tr.StepsDone, Loss: tr.LastLoss, Metrics: metrics,
		Current: p.current, Overlap: p.overlap}
	var out []streams.Message
	if train.NotWorse(metrics, p.current, p.o.Evaluator.Ks, p.o.Tolerance) {
		ci.Metrics = metrics
		if a, err = tr.Adapter(ci); err != nil {
			return nil, err
		}
		path := filepath.Join(p.o.Dir, fmt.Sprintf("adapter-v%06d.safetensors", ci.Version))
		msg, err := PublishCheckpoint(a, path, p.o.UpdatesTopic, p.base, r.Records, r.Steps)
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
		p.version, p.current = ci.Version, metrics
		r.Published, r.Path = true, path
	}
	r.Seconds = time.Since(start).Seconds()
	p.rounds = append(p.rounds, r)
	if p.o.OnRound != nil {
		p.o.OnRound(r)
	}
	return out, nil
}

// PublishCheckpoint writes a's checkpoint to path atomically and returns the Update message for
// topic (the checkpoint inline when it fits in MaxInline).
func PublishCheckpoint(a *adapter.Linear, path, topic string, baseline map[string]float64, records, steps int) (streams.Message, error) {
	b, err := a.Marshal()
	if err != nil {
		return streams.Message{}, err
	}
	if err := adapter.WriteFileAtomic(path, b); err != nil {
		return streams.Message{}, fmt.Errorf("train stage: checkpoint: %w", err)
	}
	sum := sha256.Sum256(b)
	u := Update{SchemaVersion: UpdateVersion, Version: a.Meta.Version, AdapterVersion: a.Version(), BaseEmbedder: a.Meta.BaseEmbedder,
		Path: path, SHA256: hex.EncodeToString(sum[:]), Metrics: a.Meta.Metrics, Baseline: baseline, Records: records, Steps: steps,
		Time: time.Now().UTC()}
	if len(b) <= MaxInline {
		u.Checkpoint = b
	}
	v, err := json.Marshal(u)
	if err != nil {
		return streams.Message{}, streams.Permanent("encode", err)
	}
	return streams.Message{Topic: topic, Key: []byte(UpdateKey), Value: v}, nil
}
