package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// Stage is one processor bound to an input topic and a consumer group.
type Stage struct {
	// Name labels metrics, logs and dead letters.
	Name string
	// Input is the topic consumed; Group the consumer group (default "lsrflow-" + Name).
	Input string
	Group string
	// Output is where outputs with an empty Topic go; may be empty for sinks.
	Output string
	// DeadLetters is the dead-letter topic (default "dead-letters").
	DeadLetters string
	Processor   Processor
	// Concurrency is the number of inputs processed at once (default 1). Outputs of one input
	// are published in order; inputs may finish out of order, commits stay contiguous.
	Concurrency int
	Retry       Backoff
	// CommitInterval bounds how long finished inputs wait before their offsets are committed
	// (default 200ms). Flush (for Flusher processors) happens right before each commit.
	CommitInterval time.Duration
	// ShutdownTimeout bounds how long in-flight inputs may take to finish after the context
	// is cancelled (default 10s). What is not finished by then is redelivered on restart.
	ShutdownTimeout time.Duration
	// OnDone, if set, is called after an input's outputs (or its dead letter) are acknowledged.
	OnDone func(in Message, outputs []Message, deadLettered bool)
}

// Backoff is the retry policy for Process errors and publish failures.
type Backoff struct {
	// Attempts is the number of tries of Process before the input is dead-lettered
	// (default 5). Publishing is retried until it succeeds or the stage stops.
	Attempts int
	Initial  time.Duration // default 50ms
	Max      time.Duration // default 5s
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 5
	}
	if b.Initial <= 0 {
		b.Initial = 50 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	return b
}

// Delay is the wait before retry number n (1-based): exponential, capped.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Validate checks a stage definition and fills defaults.
func (s *Stage) Validate() error {
	if s.Name == "" {
		return errors.New("stage: name is required")
	}
	if s.Input == "" {
		return fmt.Errorf("stage %s: input topic is required", s.Name)
	}
	if s.Processor == nil {
		return fmt.Errorf("stage %s: processor is required", s.Name)
	}
	if s.Group == "" {
		s.Group = "lsrflow-" + s.Name
	}
	if s.DeadLetters == "" {
		s.DeadLetters = "dead-letters"
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 1
	}
	if s.CommitInterval <= 0 {
		s.CommitInterval = 200 * time.Millisecond
	}
	if s.ShutdownTimeout <= 0 {
		s.ShutdownTimeout = 10 * time.Second
	}
	s.Retry = s.Retry.withDefaults()
	return nil
}

// Runner runs stages on a transport.
type Runner struct {
	transport Transport
	metrics   *Metrics
	log       *slog.Logger
}

// NewRunner returns a runner; metrics and log may be nil.
func NewRunner(t Transport, m *Metrics, log *slog.Logger) *Runner {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{transport: t, metrics: m, log: log}
}

// Run consumes the stage's input until ctx is cancelled, then finishes in-flight inputs
// (bounded by ShutdownTimeout), commits what is done and returns. It returns nil on a clean
// shutdown and an error when the stage could not start or its consumer failed.
func (r *Runner) Run(ctx context.Context, st Stage) error {
	if err := st.Validate(); err != nil {
		return err
	}
	cons, err := r.transport.Subscribe(ctx, st.Input, st.Group)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing fetched, nothing to commit
		}
		return fmt.Errorf("stage %s: subscribe %s: %w", st.Name, st.Input, err)
	}
	log := r.log.With("stage", st.Name)
	// work runs on its own context so that in-flight inputs can finish after ctx is cancelled.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	tr := newTracker()
	// Flush must see a quiescent processor: workers hold the read side while they process,
	// the committer takes the write side to flush.
	var flushMu sync.RWMutex
	jobs := make(chan Message)
	var wg sync.WaitGroup
	for range st.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				flushMu.RLock()
				ok := r.handle(workCtx, &st, log, m)
				flushMu.RUnlock()
				if ok {
					tr.done(m)
				}
			}
		}()
	}

	// Committer: periodically flush the processor and commit the contiguous finished prefix.
	commitDone := make(chan struct{})
	stopCommit := make(chan struct{})
	go func() {
		defer close(commitDone)
		t := time.NewTicker(st.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.commit(workCtx, &st, log, cons, tr, &flushMu)
			case <-stopCommit:
				return
			}
		}
	}()

	var fetchErr error
	for {
		m, err := cons.Fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fetchErr = fmt.Errorf("stage %s: fetch: %w", st.Name, err)
			}
			break
		}
		r.metrics.In.WithLabelValues(st.Name).Inc()
		if lr, ok := cons.(LagReporter); ok {
			r.metrics.Lag.WithLabelValues(st.Name).Set(float64(lr.Lag()))
		}
		tr.add(m)
		select {
		case jobs <- m:
		case <-ctx.Done():
			// Not handed to a worker: leave it uncommitted, it is redelivered on restart.
			tr.drop(m)
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)

	// Drain in-flight inputs within the shutdown deadline.
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(st.ShutdownTimeout):
		log.Warn("shutdown deadline passed with inputs in flight; they will be redelivered")
		cancelWork()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			// A processor that ignores its context must not hang shutdown: its inputs stay
			// uncommitted and are redelivered.
			log.Error("processor ignored cancellation; abandoning in-flight inputs")
		}
	}
	close(stopCommit)
	<-commitDone
	finalCtx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	r.commit(finalCtx, &st, log, cons, tr, &flushMu)
	cancelFinal()
	if err := cons.Close(); err != nil && fetchErr == nil && !errors.Is(err, ErrClosed) {
		log.Warn("closing consumer", "err", err)
	}
	return fetchErr
}

// commit flushes the processor (when it buffers) and commits every finished contiguous prefix.
func (r *Runner) commit(ctx context.Context, st *Stage, log *slog.Logger, cons Consumer, tr *tracker, flushMu *sync.RWMutex) {
	if f, ok := st.Processor.(Flusher); ok {
		flushMu.Lock()
		ready := tr.ready() // taken under the lock: everything in it has been processed
		var err error
		if len(ready) > 0 {
			err = f.Flush(ctx)
		}
		flushMu.Unlock()
		if err != nil {
			log.Error("flush failed; not committing", "err", err)
			return
		}
		r.commitReady(ctx, st, log, cons, tr, ready)
		return
	}
	r.commitReady(ctx, st, log, cons, tr, tr.ready())
}

func (r *Runner) commitReady(ctx context.Context, st *Stage, log *slog.Logger, cons Consumer, tr *tracker, ready []Message) {
	if len(ready) == 0 {
		return
	}
	if err := cons.Commit(ctx, ready...); err != nil {
		r.metrics.CommitErrs.WithLabelValues(st.Name).Inc()
		log.Warn("commit failed; inputs will be redelivered", "err", err)
		return
	}
	tr.committed(ready)
}

// handle processes one input to the end: outputs published, or a dead letter published. It
// reports false when it gave up because the stage is stopping: the input must stay uncommitted.
func (r *Runner) handle(ctx context.Context, st *Stage, log *slog.Logger, m Message) bool {
	start := time.Now()
	outs, err := r.process(ctx, st, log, m)
	if err == nil {
		for i := range outs {
			if outs[i].Topic == "" {
				outs[i].Topic = st.Output
			}
		}
		if err = r.publish(ctx, st, log, outs); err == nil {
			r.metrics.Out.WithLabelValues(st.Name).Add(float64(len(outs)))
			r.metrics.Latency.WithLabelValues(st.Name).Observe(time.Since(start).Seconds())
			if st.OnDone != nil {
				st.OnDone(m, outs, false)
			}
			return true
		}
	}
	if ctx.Err() != nil {
		return false // stopping: leave uncommitted, redelivered on restart
	}
	attempts := st.Retry.Attempts
	if IsPermanent(err) {
		attempts = 0
	}
	dl := schemas.DeadLetter{
		SchemaVersion: schemas.DeadLetterVersion,
		Stage:         st.Name,
		Reason:        ReasonOf(err),
		Error:         err.Error(),
		Topic:         m.Topic,
		Partition:     m.Partition,
		Offset:        m.Offset,
		Key:           string(m.Key),
		Payload:       m.Value,
		Attempts:      attempts,
		Time:          time.Now().UTC(),
	}
	b, _ := schemas.Encode(dl)
	out := []Message{{Topic: st.DeadLetters, Key: m.Key, Value: b, Headers: map[string]string{"lsrflow-stage": st.Name}}}
	if err := r.publish(ctx, st, log, out); err != nil {
		return false // stopping; redelivered later
	}
	r.metrics.DeadLetters.WithLabelValues(st.Name, dl.Reason).Inc()
	log.Debug("dead-lettered", "key", string(m.Key), "reason", dl.Reason, "err", err)
	if st.OnDone != nil {
		st.OnDone(m, out, true)
	}
	return true
}

// process calls the processor with retries; a panic is a permanent error.
func (r *Runner) process(ctx context.Context, st *Stage, log *slog.Logger, m Message) ([]Message, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var outs []Message
		outs, err = safeProcess(ctx, st.Processor, m)
		if err == nil {
			return outs, nil
		}
		if IsPermanent(err) || attempt >= st.Retry.Attempts || ctx.Err() != nil {
			if !IsPermanent(err) && ctx.Err() == nil {
				err = Permanent("retries_exhausted", fmt.Errorf("after %d attempts: %w", attempt, err))
			}
			return nil, err
		}
		r.metrics.Retries.WithLabelValues(st.Name).Inc()
		log.Debug("retrying", "key", string(m.Key), "attempt", attempt, "err", err)
		if !sleep(ctx, st.Retry.Delay(attempt)) {
			return nil, ctx.Err()
		}
	}
}

func safeProcess(ctx context.Context, p Processor, m Message) (outs []Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent("panic", fmt.Errorf("processor panicked: %v\n%s", v, debug.Stack()))
		}
	}()
	return p.Process(ctx, m)
}

// publish writes outputs grouped by topic, retrying transport errors until ctx is done.
func (r *Runner) publish(ctx context.Context, st *Stage, log *slog.Logger, outs []Message) error {
	if len(outs) == 0 {
		return nil
	}
	for i := 0; i < len(outs); {
		j := i
		for j < len(outs) && outs[j].Topic == outs[i].Topic {
			j++
		}
		if outs[i].Topic == "" {
			return Permanent("no_output_topic", fmt.Errorf("stage %s produced output but has no output topic", st.Name))
		}
		for attempt := 1; ; attempt++ {
			err := r.transport.Publish(ctx, outs[i].Topic, outs[i:j]...)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.metrics.Retries.WithLabelValues(st.Name).Inc()
			log.Warn("publish failed; retrying", "topic", outs[i].Topic, "attempt", attempt, "err", err)
			if !sleep(ctx, st.Retry.Delay(attempt)) {
				return ctx.Err()
			}
		}
		i = j
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
