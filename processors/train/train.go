package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
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

// Files the stage keeps in its directory.
const (
	WindowFile = "window.jsonl"              // the records admitted, newest last (compacted)
	StateFile  = "trainer-state.safetensors" // parameters, optimizer state, version
	RoundsFile = "rounds.jsonl"              // one line per round
)

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
	// Serving is the retriever the checkpoint was trained for (the follower serves it so).
	Serving adapter.Serving `json:"serving,omitzero"`
	// Checkpoint holds the safetensors bytes when they fit in MaxInline.
	Checkpoint []byte `json:"checkpoint,omitempty"`
}

// Round reports one training round. HeldOut holds the candidate's and Current the published
// version's metrics on the held-out training records (teacher_hit@k, the publish check);
// Eval and EvalDense the candidate's on the evaluation questions as served and as a dense
// retriever alone (reported only: they never decide anything).
type Round struct {
	Time      time.Time          `json:"time"`
	Candidate int                `json:"candidate_version"`
	Published bool               `json:"published"`
	Reason    string             `json:"reason,omitempty"`
	Version   int                `json:"version"` // the version in use after the round
	Records   int                `json:"records"`
	HeldOutN  int                `json:"held_out"`
	Steps     int                `json:"steps"`
	Loss      float64            `json:"loss"`
	LexWeight float64            `json:"lexical_weight,omitempty"`
	HeldOut   map[string]float64 `json:"held_out_metrics,omitempty"`
	Current   map[string]float64 `json:"current_held_out_metrics,omitempty"`
	Eval      map[string]float64 `json:"eval,omitempty"`
	EvalDense map[string]float64 `json:"eval_dense,omitempty"`
	Method    string             `json:"method"`
	Overlap   int                `json:"eval_overlap"`
	Path      string             `json:"path,omitempty"`
	Seconds   float64            `json:"seconds"`
}

// Options configure the train stage.
type Options struct {
	// Trainer holds the dataset (its Window bounds it) and the parameters.
	Trainer  *train.Trainer
	Embedder embed.Embedder
	// Dense searches the index (no adapter of its own); Lexical is the hybrid's lexical side
	// (nil: the served retriever is dense).
	Dense   train.DenseSearcher
	Lexical train.Lexical
	// Serving is the retriever the retrieve stage serves (Method "dense" or "hybrid" and its
	// fusion); a learned lexical weight replaces its weights.
	Serving adapter.Serving
	// HoldOut is the share of training queries held out for the publish check (default 0.1;
	// train.HeldOut splits by query id); HeldOutWindow the newest held-out queries kept
	// (default 1000); MinHeldOut how many are needed before anything is published (default 10).
	HoldOut       float64
	HeldOutWindow int
	MinHeldOut    int
	// MinTune is how many held-out queries the tuning half needs before the lexical weight is
	// tuned on them (default 50; fewer would pick a weight by chance): until then the weight
	// learned with the adapter serves.
	MinTune int
	// EvalQueries, if set, are evaluation questions (gold_doc_ids): never trained on (the
	// leakage guard refuses them) and reported per round, never used to decide.
	EvalQueries []train.EvalQuery
	// Every trains after this many new records (default 256); Interval also trains, by a
	// timer (RunTimer), when records are pending this long after the last round (0: off).
	Every         int
	Interval      time.Duration
	StepsPerRound int     // default 500
	Tolerance     float64 // per-cutoff drop allowed by the publish check (default 0)
	// Dir holds the checkpoints (adapter-v<N>.safetensors), the trainer state, the window log
	// and the rounds log; a stage restarted on the same Dir continues from them.
	Dir          string
	UpdatesTopic string
	IndexVersion string
	// ScoredLog, if set, is read on start (after the window log) to add records the stage
	// had not seen before it stopped (the scored sink's jsonl file).
	ScoredLog string
	// Publisher publishes the updates of rounds the timer starts (RunTimer).
	Publisher streams.Publisher
	// Sync fsyncs the window log in Flush (before the runner commits inputs).
	Sync bool
	// LogSlack: the window log is compacted when it holds more than this many lines
	// (default 1024) and more than twice the live records.
	LogSlack int
	// Force trains on evaluation questions anyway (counted in EvalOverlap).
	Force   bool
	OnRound func(Round)
	// Evaluate replaces the held-out check's evaluation (tests).
	Evaluate func(ctx context.Context, a *adapter.Linear) (map[string]float64, error)
	Log      *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Processor is the train stage. See the package documentation.
type Processor struct {
	o        Options
	guard    *train.LeakGuard
	mu       sync.Mutex
	pending  int // examples added since the last round
	held     []train.EvalQuery
	heldKey  map[string]bool
	heldKeys []string         // dedup keys of held, in order
	heldEv   *train.Evaluator // the check half of the held-out queries
	tuneEv   *train.Evaluator // the tuning half (hybrid: the lexical weight)
	eval     *train.Evaluator
	last     time.Time
	version  int
	current  *adapter.Linear // the published adapter (nil: version 0, the untrained retriever)
	base     map[string]float64
	overlap  int
	rounds   []Round
	window   *windowLog
	// lastTrained is the dedup key of the newest example of the last round (the log's
	// records after it were pending).
	lastTrained string
}

// New validates o, rebuilds the dataset from the window log (and ScoredLog), restores the
// trainer state and the current version from Dir, evaluates the untrained retriever on the
// evaluation questions (the reported baseline) and returns the stage.
func New(ctx context.Context, o Options) (*Processor, error) {
	if o.Trainer == nil || o.Embedder == nil || (o.Dense == nil && o.Evaluate == nil) {
		return nil, errors.New("train stage: trainer, embedder and dense index are required")
	}
	if o.Dir == "" || o.UpdatesTopic == "" {
		return nil, errors.New("train stage: a checkpoint directory and an updates topic are required")
	}
	if o.Serving.Method == "" {
		o.Serving.Method = "dense"
	}
	if o.Serving.Method == "hybrid" && o.Lexical == nil {
		return nil, errors.New("train stage: serving hybrid needs the lexical retriever")
	}
	if o.Every <= 0 {
		o.Every = 256
	}
	if o.StepsPerRound <= 0 {
		o.StepsPerRound = 500
	}
	if o.HoldOut == 0 {
		o.HoldOut = 0.1
	}
	if !(o.HoldOut > 0 && o.HoldOut < 1) {
		return nil, fmt.Errorf("train stage: hold-out share %v must be in (0, 1)", o.HoldOut)
	}
	if o.HeldOutWindow <= 0 {
		o.HeldOutWindow = 1000
	}
	if o.MinHeldOut <= 0 {
		o.MinHeldOut = 10
	}
	if o.MinTune <= 0 {
		o.MinTune = 50
	}
	if o.LogSlack <= 0 {
		o.LogSlack = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	p := &Processor{o: o, guard: train.NewLeakGuard(), heldKey: map[string]bool{}, last: o.Now()}
	for _, q := range o.EvalQueries {
		p.guard.Add(q.ID, q.Question)
	}
	if len(o.EvalQueries) > 0 && o.Dense != nil {
		ev, err := train.NewEvaluator(ctx, o.Embedder, o.EvalQueries, nil, o.Dense, o.Lexical)
		if err != nil {
			return nil, fmt.Errorf("train stage: evaluation questions: %w", err)
		}
		p.eval = ev
		if p.base, err = ev.Eval(ctx, nil, o.Serving); err != nil {
			return nil, fmt.Errorf("train stage: baseline evaluation: %w", err)
		}
	}
	if err := p.restore(ctx); err != nil {
		return nil, err
	}
	if err := p.logBaseline(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// logBaseline starts a new rounds log with version 0, the untrained retriever, measured on
// the evaluation questions (the first point of the report's recall-per-version plot).
func (p *Processor) logBaseline(ctx context.Context) error {
	path := filepath.Join(p.o.Dir, RoundsFile)
	if _, err := os.Stat(path); err == nil || p.eval == nil || p.version > 0 {
		return nil
	}
	r := Round{Time: p.o.Now().UTC(), Published: true, Reason: "untrained", Method: p.o.Serving.Method, Eval: p.base}
	if p.o.Serving.Method != "dense" {
		var err error
		if r.EvalDense, err = p.eval.Eval(ctx, nil, adapter.Serving{Method: "dense"}); err != nil {
			return err
		}
	}
	return appendRound(path, r)
}

// restore rebuilds the dataset and held-out set from the window log and the scored log, then
// loads the trainer state and the published adapter.
func (p *Processor) restore(ctx context.Context) error {
	wl, err := openWindowLog(filepath.Join(p.o.Dir, WindowFile), p.o.Sync, p.o.LogSlack, p.live)
	if err != nil {
		return err
	}
	p.window = wl
	state := filepath.Join(p.o.Dir, StateFile)
	meta, err := p.o.Trainer.LoadState(state)
	switch {
	case errors.Is(err, os.ErrNotExist):
		meta = nil
	case err != nil:
		return fmt.Errorf("train stage: %w (remove %s to start over)", err, state)
	}
	// Replay in log order; the records after the last one trained on were pending.
	p.lastTrained = meta["last_trained"]
	afterLast := p.lastTrained == ""
	var batch []schemas.Scored
	inBatch := map[string]bool{}
	addBatch := func() error {
		n, err := p.o.Trainer.Data.Add(ctx, batch)
		if !afterLast {
			n = 0
		}
		p.pending += n
		batch = batch[:0]
		clear(inBatch)
		return err
	}
	replay := func(path string, logIt bool) error {
		_, err := schemas.DecodeFile(ctx, path, 0, schemas.DecodeScored, func(r schemas.Scored) error {
			k := r.DedupKey()
			if (p.guard.Contains(r.ID, r.Query) && !p.o.Force) || p.o.Trainer.Data.Has(k) || p.heldKey[k] || inBatch[k] {
				return nil
			}
			if train.HeldOut(r.ID, p.o.HoldOut) {
				p.addHeldOut(r)
			} else if p.o.Trainer.Data.Usable(r) == "" {
				batch = append(batch, r)
				inBatch[k] = true
			} else {
				return nil
			}
			if logIt {
				if err := wl.append(r); err != nil {
					return err
				}
			}
			if k == p.lastTrained || len(batch) >= 256 {
				if err := addBatch(); err != nil {
					return err
				}
				afterLast = afterLast || k == p.lastTrained
			}
			return nil
		})
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return addBatch()
	}
	if err := replay(wl.path, false); err != nil {
		return fmt.Errorf("train stage: replaying %s: %w", wl.path, err)
	}
	if !afterLast { // the last trained record was compacted away: everything is pending
		p.pending = p.o.Trainer.Data.Len()
		afterLast = true
	}
	if p.o.ScoredLog != "" {
		if err := replay(p.o.ScoredLog, true); err != nil {
			return fmt.Errorf("train stage: replaying %s: %w", p.o.ScoredLog, err)
		}
	}
	p.pending = min(p.pending, p.o.Trainer.Data.Len())
	if err := wl.flush(); err != nil {
		return err
	}
	if meta == nil {
		return nil
	}
	if e := meta["embedder"]; e != p.o.Embedder.Name() {
		return fmt.Errorf("train stage: %s was written for embedder %q, not %q: use another checkpoint directory", state, e, p.o.Embedder.Name())
	}
	p.version, _ = strconv.Atoi(meta["version"])
	p.overlap, _ = strconv.Atoi(meta["eval_overlap"])
	if path := meta["current"]; path != "" {
		a, err := adapter.Load(path)
		if err != nil {
			return fmt.Errorf("train stage: the published version: %w", err)
		}
		if a.Meta.Version != p.version {
			return fmt.Errorf("train stage: %s holds version %d, the state says %d", path, a.Meta.Version, p.version)
		}
		p.current = a
	}
	var ids, hashes []string
	_ = json.Unmarshal([]byte(meta["train_ids"]), &ids)
	_ = json.Unmarshal([]byte(meta["train_hashes"]), &hashes)
	p.o.Trainer.Data.AddIdentity(ids, hashes)
	p.o.Log.Info("train stage restored", "version", p.version, "steps", p.o.Trainer.StepsDone,
		"examples", p.o.Trainer.Data.Len(), "pending", p.pending, "held_out", len(p.held))
	return nil
}

// live reports whether the window log must keep a record: it is in the dataset or held out.
func (p *Processor) live(key string) bool { return p.o.Trainer.Data.Has(key) || p.heldKey[key] }

func (p *Processor) addHeldOut(r schemas.Scored) {
	k := r.DedupKey()
	if p.heldKey[k] {
		return
	}
	q, ok := train.HeldOutQuery(r)
	if !ok {
		return
	}
	p.heldKey[k] = true
	p.held = append(p.held, q)
	p.heldKeys = append(p.heldKeys, k)
	if n := len(p.held) - p.o.HeldOutWindow; n > 0 {
		for _, old := range p.heldKeys[:n] {
			delete(p.heldKey, old)
		}
		p.held = append([]train.EvalQuery(nil), p.held[n:]...)
		p.heldKeys = append([]string(nil), p.heldKeys[n:]...)
	}
	p.heldEv, p.tuneEv = nil, nil // rebuilt at the next round
}

// Version is the version in use (0: none published).
func (p *Processor) Version() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// Rounds returns the rounds of this process so far.
func (p *Processor) Rounds() []Round {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Round(nil), p.rounds...)
}

// Records returns the number of training examples held, of records pending for the next
// round and of held-out queries.
func (p *Processor) Records() (trainN, pending, heldOut int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.o.Trainer.Data.Len(), p.pending, len(p.held)
}

func (p *Processor) admit(r schemas.Scored) error {
	if p.guard.Contains(r.ID, r.Query) {
		if !p.o.Force {
			return streams.Permanent(ReasonEvalLeak, fmt.Errorf("train: query %s is an evaluation question (leakage); refused", r.ID))
		}
		p.overlap++
	}
	return nil
}

// Process implements streams.Processor: it logs the record in the window log, holds it out
// or adds it to the dataset, and runs a round when Every records are pending.
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
	k := rec.DedupKey()
	if p.o.Trainer.Data.Has(k) || p.heldKey[k] {
		return nil, nil // redelivered
	}
	held := train.HeldOut(rec.ID, p.o.HoldOut)
	if !held && p.o.Trainer.Data.Usable(rec) != "" {
		_, err := p.o.Trainer.Data.Add(ctx, []schemas.Scored{rec}) // counts why it is skipped
		return nil, err
	}
	if err := p.window.append(rec); err != nil {
		return nil, fmt.Errorf("train stage: window log: %w", err)
	}
	if held {
		p.addHeldOut(rec)
		return nil, nil
	}
	n, err := p.o.Trainer.Data.Add(ctx, []schemas.Scored{rec})
	if err != nil {
		return nil, err
	}
	p.pending += n
	if p.pending < p.o.Every {
		return nil, nil
	}
	return p.round(ctx)
}

// Flush makes the window log durable; the runner calls it before committing inputs.
func (p *Processor) Flush(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.window.flush()
}

// Close flushes and closes the window log.
func (p *Processor) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.window.close()
}

// RunTimer runs a round whenever records have been pending for Interval, publishing its
// update with Publisher, until ctx is done. It returns at once when Interval is 0.
func (p *Processor) RunTimer(ctx context.Context) error {
	if p.o.Interval <= 0 {
		return nil
	}
	if p.o.Publisher == nil {
		return errors.New("train stage: the timer needs a publisher")
	}
	tick := time.NewTicker(max(p.o.Interval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		p.mu.Lock()
		var out []streams.Message
		var err error
		if p.pending > 0 && p.o.Now().Sub(p.last) >= p.o.Interval {
			out, err = p.round(ctx)
		}
		p.mu.Unlock()
		if err == nil && len(out) > 0 {
			err = p.o.Publisher.Publish(ctx, p.o.UpdatesTopic, out...)
		}
		if err != nil && ctx.Err() == nil {
			p.o.Log.Warn("timed train round failed", "err", err)
		}
	}
}

// tuneHalf reports whether held-out query id tunes the lexical weight: half of the held-out
// queries (the same hash threshold at half the share), so the other half judges publication
// without having chosen anything.
func (p *Processor) tuneHalf(id string) bool {
	return p.o.Lexical != nil && train.HeldOut(id, p.o.HoldOut/2)
}

// heldSplit returns the check and tune halves of the held-out queries.
func (p *Processor) heldSplit() (check, tune []train.EvalQuery) {
	for _, q := range p.held {
		if p.tuneHalf(q.ID) {
			tune = append(tune, q)
		} else {
			check = append(check, q)
		}
	}
	return check, tune
}

// heldOutMetrics evaluates a on the check half of the held-out set as served.
func (p *Processor) heldOutMetrics(ctx context.Context, a *adapter.Linear, sv adapter.Serving) (map[string]float64, error) {
	if p.o.Evaluate != nil {
		return p.o.Evaluate(ctx, a)
	}
	if p.heldEv == nil {
		check, _ := p.heldSplit()
		ev, err := train.NewEvaluator(ctx, p.o.Embedder, check, nil, p.o.Dense, p.o.Lexical)
		if err != nil {
			return nil, err
		}
		p.heldEv = ev
	}
	return p.heldEv.Eval(ctx, a, sv)
}

// serving returns how the candidate a is served: dense, or a hybrid whose lexical weight is
// tuned on the tuning half of the held-out queries (the weight learned with the adapter when
// there are too few of them). The trainer's lexical weight is set to it, so the next round
// trains from the weight that serves instead of drifting with the training loss.
func (p *Processor) serving(ctx context.Context, a *adapter.Linear) (adapter.Serving, error) {
	sv := p.o.Serving
	lw := p.o.Trainer.Params.LexWeight()
	if lw <= 0 {
		return sv, nil
	}
	sv.Fusion, sv.LexicalWeight, sv.DenseWeight = "linear", lw, 1
	sv.WeightsFrom = fmt.Sprintf("learned with the adapter on %d training records", p.o.Trainer.Data.Len())
	_, tune := p.heldSplit()
	if len(tune) < p.o.MinTune || p.o.Evaluate != nil {
		return sv, nil
	}
	if p.tuneEv == nil {
		ev, err := train.NewEvaluator(ctx, p.o.Embedder, tune, nil, p.o.Dense, p.o.Lexical)
		if err != nil {
			return sv, err
		}
		p.tuneEv = ev
	}
	w, _, err := train.TuneLexWeight(ctx, p.tuneEv, a, train.LexGrid)
	if err != nil {
		return sv, err
	}
	sv.LexicalWeight = w
	sv.WeightsFrom = fmt.Sprintf("tuned on %d held-out training queries", len(tune))
	p.o.Trainer.Params.LogLex[0] = math.Log(w)
	return sv, nil
}

// round trains on the dataset (pending examples included), checks the candidate against the published version on
// the held-out records (as served) and publishes it when it is not worse. Callers hold p.mu.
func (p *Processor) round(ctx context.Context) ([]streams.Message, error) {
	start := time.Now()
	tr := p.o.Trainer
	if n := tr.Data.Len(); n > 0 {
		p.lastTrained = tr.Data.Examples[n-1].Key()
	}
	p.pending = 0
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
	sv, err := p.serving(ctx, a)
	if err != nil {
		return nil, err
	}
	ci.Serving = sv
	if a, err = tr.Adapter(ci); err != nil {
		return nil, err
	}
	check, _ := p.heldSplit()
	r := Round{Time: time.Now().UTC(), Candidate: ci.Version, Records: tr.Data.Len(), HeldOutN: len(check), Steps: tr.StepsDone,
		Loss: tr.LastLoss, LexWeight: sv.LexicalWeight, Method: sv.Method, Overlap: p.overlap}
	if p.eval != nil {
		if r.Eval, err = p.eval.Eval(ctx, a, sv); err != nil {
			return nil, err
		}
		if sv.Method != "dense" {
			if r.EvalDense, err = p.eval.Eval(ctx, a, adapter.Serving{Method: "dense"}); err != nil {
				return nil, err
			}
		}
	}
	var out []streams.Message
	names := train.Names(train.HitName, []int{1, 5, 20})
	switch {
	case len(check) < p.o.MinHeldOut && p.o.Evaluate == nil:
		r.Reason = fmt.Sprintf("%d held-out records to judge, %d needed", len(check), p.o.MinHeldOut)
	default:
		if r.HeldOut, err = p.heldOutMetrics(ctx, a, sv); err != nil {
			return nil, err
		}
		cursv := p.o.Serving // version 0: the untrained retriever as configured
		if p.current != nil {
			cursv = p.current.Meta.Serving
		}
		if r.Current, err = p.heldOutMetrics(ctx, p.current, cursv); err != nil {
			return nil, err
		}
		if p.o.Evaluate != nil {
			names = nil
			for k := range r.HeldOut {
				names = append(names, k)
			}
		}
		if !train.NotWorse(r.HeldOut, r.Current, names, p.o.Tolerance) {
			r.Reason = "worse than the published version on the held-out records"
			break
		}
		ci.Metrics = r.HeldOut
		if a, err = tr.Adapter(ci); err != nil {
			return nil, err
		}
		path := filepath.Join(p.o.Dir, fmt.Sprintf("adapter-v%06d.safetensors", ci.Version))
		msg, err := PublishCheckpoint(a, path, p.o.UpdatesTopic, p.base, r.Records, r.Steps)
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
		p.version, p.current = ci.Version, a
		r.Published, r.Path = true, path
	}
	r.Version = p.version
	if err := p.saveState(); err != nil {
		return nil, err
	}
	r.Seconds = time.Since(start).Seconds()
	p.rounds = append(p.rounds, r)
	if err := appendRound(filepath.Join(p.o.Dir, RoundsFile), r); err != nil {
		p.o.Log.Warn("rounds log", "err", err)
	}
	if p.o.OnRound != nil {
		p.o.OnRound(r)
	}
	return out, nil
}

// saveState writes the trainer state with the version bookkeeping. The window log is made
// durable first: a state never refers to records the log could lose.
func (p *Processor) saveState() error {
	if err := p.window.flush(); err != nil {
		return err
	}
	ids, hashes, _ := p.o.Trainer.Data.TrainIdentity()
	bi, _ := json.Marshal(ids)
	bh, _ := json.Marshal(hashes)
	cur := ""
	if p.current != nil {
		cur = filepath.Join(p.o.Dir, fmt.Sprintf("adapter-v%06d.safetensors", p.version))
	}
	return p.o.Trainer.SaveState(filepath.Join(p.o.Dir, StateFile), map[string]string{
		"version": strconv.Itoa(p.version), "current": cur, "embedder": p.o.Embedder.Name(),
		"eval_overlap": strconv.Itoa(p.overlap), "train_ids": string(bi), "train_hashes": string(bh),
		"last_trained": p.lastTrained})
}

func appendRound(path string, r Round) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = json.NewEncoder(f).Encode(r)
	return errors.Join(err, f.Close())
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
		Time: time.Now().UTC(), Serving: a.Meta.Serving}
	if len(b) <= MaxInline {
		u.Checkpoint = b
	}
	v, err := json.Marshal(u)
	if err != nil {
		return streams.Message{}, streams.Permanent("encode", err)
	}
	return streams.Message{Topic: topic, Key: []byte(UpdateKey), Value: v}, nil
}
