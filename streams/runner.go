package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// Concurrency is the number of inputs processed at once (default 1). Inputs with the same
	// key are processed one after the other and their outputs published in input order;
	// other inputs may finish out of order, commits stay contiguous.
	Concurrency int
	// MaxInFlight bounds the inputs fetched and not yet committed: queued for a worker, being
	// processed, waiting for acknowledgements or for their commit (default 8192: enough
	// buffered outputs for full produce batches). It bounds the stage's memory (MaxInFlight
	// inputs and their outputs) and the work redone after a crash: a restarted stage repeats at
	// most MaxInFlight inputs. Once half of it is taken, the stage commits without waiting for
	// CommitInterval.
	MaxInFlight int
	Retry       Backoff
	// CommitInterval bounds how long finished inputs wait before their offsets are committed
	// (default 50ms; 200ms for Flusher processors, whose Flush happens right before each
	// commit and costs a write, and for exactly-once stages, whose commit ends a transaction).
	CommitInterval time.Duration
	// ShutdownTimeout bounds how long in-flight inputs may take to finish after the context
	// is cancelled (default 10s). What is not finished by then is redelivered on restart.
	ShutdownTimeout time.Duration
	// StallTimeout arms the stall watchdog on consumers that can see their group's offsets
	// (GroupWatcher): when a partition of the input has lag, its committed offset does not
	// move and no member of this process works on it for longer than StallTimeout, the stage
	// logs an error, sets lsrflow_stage_stalled and rejoins its group (default 60s; negative
	// disables it). It must exceed the longest time one input may take.
	StallTimeout time.Duration
	// ExactlyOnce commits the stage's outputs and its input offsets together in transactions
	// (transports implementing TxnSubscriber: Kafka). Every CommitInterval the stage stops
	// fetching, lets every fetched input finish, and commits; a rebalance or a crash aborts
	// the open transaction and its inputs are processed again, so read-committed consumers of
	// the outputs see each input's outputs exactly once. Outputs the transport rejects for good
	// end the session (the input comes again) instead of being dead-lettered.
	ExactlyOnce bool
	// OnDone, if set, is called after an input's outputs (or its dead letter) are acknowledged.
	// It may be called from several goroutines at once. In exactly-once mode the transaction
	// may still abort after it.
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
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = 8192
	}
	s.MaxInFlight = max(s.MaxInFlight, s.Concurrency)
	if s.CommitInterval <= 0 {
		s.CommitInterval = 50 * time.Millisecond
		if _, ok := s.Processor.(Flusher); ok || s.ExactlyOnce {
			s.CommitInterval = 200 * time.Millisecond
		}
	}
	if s.ShutdownTimeout <= 0 {
		s.ShutdownTimeout = 10 * time.Second
	}
	if s.StallTimeout == 0 {
		s.StallTimeout = 60 * time.Second
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

// errRejoin ends a session so that the stage leaves its group and joins again.
var errRejoin = errors.New("stage stalled: rejoining the group")

// Run consumes the stage's input until ctx is cancelled, then finishes in-flight inputs
// (bounded by ShutdownTimeout), commits what is done and returns. It returns nil on a clean
// shutdown and an error when the stage could not start or its consumer failed.
//
// Inputs flow fetch -> worker (Process) -> publish -> acknowledged -> committed. Up to
// MaxInFlight inputs are between fetch and acknowledgement at once; their outputs are
// published without waiting (AsyncPublisher) or in batches by one publisher goroutine, and
// the committed offset of each partition is the end of its contiguous finished prefix.
func (r *Runner) Run(ctx context.Context, st Stage) error {
	if err := st.Validate(); err != nil {
		return err
	}
	log := r.log.With("stage", st.Name)
	wd := &watchdog{timeout: st.StallTimeout}
	subscribe := r.transport.Subscribe
	if st.ExactlyOnce {
		ts, ok := r.transport.(TxnSubscriber)
		if !ok {
			return fmt.Errorf("stage %s: exactly-once needs a transport with transactions (Kafka)", st.Name)
		}
		subscribe = ts.SubscribeTxn
	}
	for {
		joinStart := time.Now()
		cons, err := subscribe(ctx, st.Input, st.Group)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped before it started: nothing fetched, nothing to commit
			}
			return fmt.Errorf("stage %s: subscribe %s: %w", st.Name, st.Input, err)
		}
		log.Info("joined the consumer group", "group", st.Group, "took", time.Since(joinStart).Round(time.Millisecond))
		s := r.newSession(&st, log, cons, wd)
		err = s.run(ctx)
		if !errors.Is(err, errRejoin) || ctx.Err() != nil {
			if errors.Is(err, errRejoin) {
				err = nil
			}
			return err
		}
		log.Warn("rejoining the consumer group")
	}
}

// stageMetrics are the stage's series, resolved once (label lookups cost per record).
type stageMetrics struct {
	in, out, retries, commitErrs, rejoins prometheus.Counter
	latency                               prometheus.Observer
	lag, stalled                          prometheus.Gauge
	dead                                  *prometheus.CounterVec
}

// item is one input on its way through a session.
type item struct {
	msg    Message
	entry  *trackEntry
	start  time.Time
	outs   []Message
	dead   bool   // outs is the input's dead letter
	reason string // the dead letter's reason
}

// session is one membership of the stage's group: from Subscribe to Close.
type session struct {
	r    *Runner
	st   *Stage
	log  *slog.Logger
	cons Consumer
	wd   *watchdog
	m    stageMetrics
	tr   *tracker

	async AsyncPublisher // nil: the publisher goroutine publishes synchronously in batches
	txn   Transactor     // exactly-once stages: outputs go into the consumer's transaction

	// Exactly-once commits pause fetching: the committer sets paused and waits until no fetch
	// is in progress, then until every fetched input finished.
	pauseMu     sync.Mutex
	pauseCond   *sync.Cond
	paused      bool
	inFetch     bool
	fetchCancel context.CancelFunc
	abandoned   atomic.Bool

	stop    context.CancelCauseFunc // stops fetching (shutdown or rejoin)
	stopped <-chan struct{}
	workCtx context.Context // processing and publishing; outlives stop until the deadline

	slots     chan struct{}  // one per input fetched and not yet committed
	commitNow chan struct{}  // the fetcher waits for slots: commit without waiting for the tick
	starved   atomic.Bool    // the fetcher waits for slots: every finished input asks for a commit
	items     sync.WaitGroup // inputs not yet finished or abandoned
	flushMu   sync.RWMutex   // workers hold R while processing; the committer takes W to flush
	work      chan *item
	pubq      chan *item
	keys      *keyQueue // nil when Concurrency is 1 (one worker keeps every order)

	actMu    sync.Mutex
	activity map[int]time.Time // per partition: last fetch (for the watchdog)

	doneMu sync.Mutex
	over   bool // the session ended: late acknowledgements are ignored
}

func (r *Runner) newSession(st *Stage, log *slog.Logger, cons Consumer, wd *watchdog) *session {
	m := r.metrics
	s := &session{
		r: r, st: st, log: log, cons: cons, wd: wd, tr: newTracker(),
		m: stageMetrics{
			in: m.In.WithLabelValues(st.Name), out: m.Out.WithLabelValues(st.Name),
			retries: m.Retries.WithLabelValues(st.Name), commitErrs: m.CommitErrs.WithLabelValues(st.Name),
			rejoins: m.Rejoins.WithLabelValues(st.Name), latency: m.Latency.WithLabelValues(st.Name),
			lag: m.Lag.WithLabelValues(st.Name), stalled: m.Stalled.WithLabelValues(st.Name), dead: m.DeadLetters,
		},
		slots:     make(chan struct{}, st.MaxInFlight),
		commitNow: make(chan struct{}, 1),
		work:      make(chan *item, st.MaxInFlight),
		pubq:      make(chan *item, st.MaxInFlight),
		activity:  map[int]time.Time{},
	}
	s.pauseCond = sync.NewCond(&s.pauseMu)
	if ap, ok := r.transport.(AsyncPublisher); ok {
		s.async = ap
	}
	if tx, ok := cons.(Transactor); ok && st.ExactlyOnce {
		s.txn, s.async = tx, tx
	}
	if st.Concurrency > 1 {
		s.keys = &keyQueue{busy: map[string][]*item{}, work: s.work}
	}
	return s
}

func (s *session) run(ctx context.Context) error {
	st := s.st
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	s.stop, s.stopped = stop, sctx.Done()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	s.workCtx = workCtx

	var bg sync.WaitGroup
	quit := make(chan struct{})
	for range st.Concurrency {
		bg.Go(func() { s.worker(quit) })
	}
	if s.async == nil {
		bg.Go(func() { s.publisher(quit) })
	}
	bg.Go(func() { s.committer(sctx, quit) })

	fetchErr := s.fetchLoop(sctx)
	stop(nil)

	// Drain: queued inputs are abandoned by the workers at once; started ones may finish
	// within the shutdown deadline.
	drained := make(chan struct{})
	go func() { s.items.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(st.ShutdownTimeout):
		s.log.Warn("shutdown deadline passed with inputs in flight; they will be redelivered")
		cancelWork()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			// A processor that ignores its context must not hang shutdown: its inputs stay
			// uncommitted and are redelivered.
			s.log.Error("inputs did not finish after cancellation; abandoning them")
		}
	}
	close(quit)
	bg.Wait()
	finalCtx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	s.commit(finalCtx)
	cancelFinal()
	s.doneMu.Lock()
	s.over = true
	s.doneMu.Unlock()
	if err := s.cons.Close(); err != nil && fetchErr == nil && !errors.Is(err, ErrClosed) {
		s.log.Warn("closing consumer", "err", err)
	}
	if fetchErr == nil && errors.Is(context.Cause(sctx), errRejoin) {
		return errRejoin
	}
	return fetchErr
}

// fetchLoop fetches while there is room in flight, until sctx is done or the consumer fails.
func (s *session) fetchLoop(sctx context.Context) error {
	bf, batched := s.cons.(BatchFetcher)
	for {
		// Take one slot (blocking), then as many more as are free, up to one batch. Slots come
		// back when inputs are committed: when none is free, ask for a commit now.
		select {
		case s.slots <- struct{}{}:
		default:
			s.starved.Store(true)
			s.askCommit()
			select {
			case s.slots <- struct{}{}:
				s.starved.Store(false)
			case <-sctx.Done():
				return nil
			}
		}
		n := 1
		for n < 512 {
			select {
			case s.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		s.pauseMu.Lock()
		for s.paused {
			s.pauseCond.Wait()
		}
		fctx, cancel := context.WithCancel(sctx)
		s.inFetch, s.fetchCancel = true, cancel
		s.pauseMu.Unlock()
		var msgs []Message
		var err error
		if batched {
			msgs, err = bf.FetchBatch(fctx, n)
		} else {
			var m Message
			if m, err = s.cons.Fetch(fctx); err == nil {
				msgs = []Message{m}
			}
		}
		s.free(n - len(msgs))
		if err == nil {
			s.dispatch(msgs)
		}
		s.pauseMu.Lock()
		s.inFetch, s.fetchCancel = false, nil
		s.pauseCond.Broadcast()
		s.pauseMu.Unlock()
		paused := fctx.Err() != nil && sctx.Err() == nil
		cancel()
		if err != nil {
			if sctx.Err() != nil {
				return nil
			}
			if paused {
				continue // an exactly-once commit interrupted the fetch
			}
			return fmt.Errorf("stage %s: fetch: %w", s.st.Name, err)
		}
	}
}

// dispatch tracks fetched inputs and queues them for the workers.
func (s *session) dispatch(msgs []Message) {
	s.m.in.Add(float64(len(msgs)))
	now := time.Now()
	s.actMu.Lock()
	for i := range msgs {
		s.activity[msgs[i].Partition] = now
	}
	s.actMu.Unlock()
	for _, m := range msgs {
		s.items.Add(1)
		e, freed := s.tr.add(m)
		s.free(freed)
		it := &item{msg: m, entry: e, start: now}
		if s.keys != nil {
			s.keys.submit(it)
		} else {
			s.work <- it // never blocks: the channel holds MaxInFlight items
		}
	}
}

// worker processes queued inputs and hands their outputs to the publisher.
func (s *session) worker(quit <-chan struct{}) {
	for {
		var it *item
		select {
		case it = <-s.work:
		case <-quit:
			return
		}
		s.handle(it)
		if s.keys != nil {
			s.keys.release(it)
		}
	}
}

func (s *session) handle(it *item) {
	select {
	case <-s.stopped:
		s.abandon(it) // not started: redelivered after the restart or rejoin
		return
	default:
	}
	s.flushMu.RLock()
	outs, err := s.r.process(s.workCtx, s.st, s.log, s.m.retries, it.msg)
	s.flushMu.RUnlock()
	if err == nil {
		for i := range outs {
			if outs[i].Topic == "" {
				outs[i].Topic = s.st.Output
			}
			if outs[i].Topic == "" {
				err = Permanent("no_output_topic", fmt.Errorf("stage %s produced output but has no output topic", s.st.Name))
			}
		}
	}
	switch {
	case err != nil && s.workCtx.Err() != nil:
		s.abandon(it) // stopping: leave uncommitted, redelivered on restart
		return
	case err != nil:
		s.toDeadLetter(it, err, 0)
	default:
		it.outs = outs
	}
	if len(it.outs) == 0 {
		s.finish(it)
		return
	}
	if s.async != nil {
		s.async.PublishAsync(s.workCtx, it.outs, func(err error) { s.acked(it, err) })
		return
	}
	s.pubq <- it // never blocks: the channel holds MaxInFlight items
}

// maxDeadPayload bounds the original bytes a dead letter keeps when the whole input was too
// big for the transport to take back.
const maxDeadPayload = 256 << 10

// toDeadLetter replaces it's outputs by its dead letter for err. With truncate > 0 the
// payload keeps only its first truncate bytes (the full one was rejected).
func (s *session) toDeadLetter(it *item, err error, truncate int) {
	m := it.msg
	attempts := s.st.Retry.Attempts
	if IsPermanent(err) {
		attempts = 0
	}
	payload, msg := m.Value, err.Error()
	if truncate > 0 && len(payload) > truncate {
		msg = fmt.Sprintf("%s (payload truncated from %d bytes)", msg, len(payload))
		payload = payload[:truncate]
	}
	dl := schemas.DeadLetter{
		SchemaVersion: schemas.DeadLetterVersion,
		Stage:         s.st.Name,
		Reason:        ReasonOf(err),
		Error:         msg,
		Topic:         m.Topic,
		Partition:     m.Partition,
		Offset:        m.Offset,
		Key:           string(m.Key),
		Payload:       payload,
		Attempts:      attempts,
		Time:          time.Now().UTC(),
	}
	b, _ := schemas.Encode(dl)
	s.log.Debug("dead-lettering", "key", string(m.Key), "reason", dl.Reason, "err", err)
	it.outs = []Message{{Topic: s.st.DeadLetters, Key: m.Key, Value: b, Headers: map[string]string{"lsrflow-stage": s.st.Name}}}
	it.dead, it.reason = true, dl.Reason
}

// acked is the asynchronous publish result of it.
func (s *session) acked(it *item, err error) {
	switch {
	case err == nil:
		s.finish(it)
	case s.workCtx.Err() != nil || errors.Is(err, ErrClosed):
		s.abandon(it)
	case s.txn != nil:
		// A failed record dooms the transaction: abort it and start over from the commits.
		s.log.Error("publishing in the transaction failed; rejoining to abort it", "key", string(it.msg.Key), "err", err)
		s.abandon(it)
		s.stop(errRejoin)
	default:
		// Transports retry transient errors themselves; what comes back is permanent or
		// outlived the transport's own patience. Retried off the callback goroutine.
		go s.republish(it, err)
	}
}

// republish publishes it synchronously, after a failed attempt (err) or as the first try (err
// nil). A permanent rejection of the outputs dead-letters the input instead (a rejected dead
// letter is retried with its payload cut to maxDeadPayload); anything else is retried until
// the stage stops.
func (s *session) republish(it *item, err error) {
	truncated := false
	for attempt := 1; ; attempt++ {
		switch {
		case err == nil:
		case IsPermanent(err) && !it.dead:
			s.log.Warn("outputs rejected by the transport; dead-lettering the input", "key", string(it.msg.Key), "err", err)
			s.toDeadLetter(it, err, 0)
		case IsPermanent(err) && !truncated:
			s.log.Error("dead letter rejected by the transport; truncating its payload", "key", string(it.msg.Key), "err", err)
			s.toDeadLetter(it, err, maxDeadPayload)
			truncated = true
		default:
			s.m.retries.Inc()
			s.log.Warn("publish failed; retrying", "key", string(it.msg.Key), "err", err)
			if !sleep(s.workCtx, s.st.Retry.Delay(attempt)) {
				s.abandon(it)
				return
			}
		}
		if err = s.r.publish(s.workCtx, s.st, s.log, s.m.retries, it.outs); err == nil {
			s.finish(it)
			return
		}
		if s.workCtx.Err() != nil {
			s.abandon(it)
			return
		}
	}
}

// publisher publishes queued outputs synchronously, many inputs per Publish call.
func (s *session) publisher(quit <-chan struct{}) {
	var batch []*item
	byTopic := map[string][]Message{}
	var order []string
	for {
		batch = batch[:0]
		select {
		case it := <-s.pubq:
			batch = append(batch, it)
		case <-quit:
			return
		}
		n := len(batch[0].outs)
	more:
		for n < 4096 {
			select {
			case it := <-s.pubq:
				batch = append(batch, it)
				n += len(it.outs)
			default:
				break more
			}
		}
		clear(byTopic)
		order = order[:0]
		for _, it := range batch {
			for _, o := range it.outs {
				if _, ok := byTopic[o.Topic]; !ok {
					order = append(order, o.Topic)
				}
				byTopic[o.Topic] = append(byTopic[o.Topic], o)
			}
		}
		var err error
		for _, topic := range order {
			if err = s.r.transport.Publish(s.workCtx, topic, byTopic[topic]...); err != nil {
				break
			}
		}
		if err == nil {
			for _, it := range batch {
				s.finish(it)
			}
			continue
		}
		// One input at a time, so that a rejected output costs only its own input. A batch
		// that failed halfway may publish some outputs twice: at-least-once, like a crash.
		for _, it := range batch {
			if s.workCtx.Err() != nil {
				s.abandon(it)
				continue
			}
			s.republish(it, nil)
		}
	}
}

// finish records it as done: counted, reported and committable.
func (s *session) finish(it *item) {
	if s.ended() {
		return
	}
	if it.dead {
		s.m.dead.WithLabelValues(s.st.Name, it.reason).Inc()
	} else {
		s.m.out.Add(float64(len(it.outs)))
		s.m.latency.Observe(time.Since(it.start).Seconds())
	}
	if s.st.OnDone != nil {
		s.st.OnDone(it.msg, it.outs, it.dead)
	}
	s.tr.done(it.entry) // its slot comes back with the commit
	// Commit before the fetcher runs dry: once half the slots are taken (requests coalesce:
	// one commit at a time, back to back), or when it already waits.
	if 2*len(s.slots) >= cap(s.slots) || s.starved.Load() {
		s.askCommit()
	}
	s.items.Done()
}

// ended reports whether the session is over: late acknowledgements change nothing.
func (s *session) ended() bool {
	s.doneMu.Lock()
	defer s.doneMu.Unlock()
	return s.over
}

// askCommit wakes the committer (requests coalesce).
func (s *session) askCommit() {
	select {
	case s.commitNow <- struct{}{}:
	default:
	}
}

// abandon gives up on it: it stays uncommitted and is delivered again later.
func (s *session) abandon(it *item) {
	if s.ended() {
		return
	}
	s.abandoned.Store(true)
	if s.tr.release(it.entry) {
		s.free(1)
	}
	s.items.Done()
}

// free gives back n in-flight slots.
func (s *session) free(n int) {
	for range n {
		<-s.slots
	}
}

// committer commits periodically, keeps the lag gauge current and runs the stall watchdog.
func (s *session) committer(sctx context.Context, quit <-chan struct{}) {
	t := time.NewTicker(s.st.CommitInterval)
	defer t.Stop()
	gw, watch := s.cons.(GroupWatcher)
	watch = watch && s.st.StallTimeout > 0
	lr, hasLag := s.cons.(LagReporter)
	var nextWatch, nextLag time.Time
	for {
		select {
		case <-t.C:
		case <-s.commitNow:
		case <-quit:
			return
		}
		s.commit(s.workCtx)
		now := time.Now()
		if hasLag && now.After(nextLag) {
			s.m.lag.Set(float64(lr.Lag()))
			nextLag = now.Add(time.Second)
		}
		if watch && now.After(nextWatch) && sctx.Err() == nil {
			nextWatch = now.Add(max(s.st.StallTimeout/8, 100*time.Millisecond))
			s.watch(sctx, gw, now)
		}
	}
}

// watch asks the group's offsets and rejoins when a partition stalled.
func (s *session) watch(sctx context.Context, gw GroupWatcher, now time.Time) {
	ctx, cancel := context.WithTimeout(sctx, 10*time.Second)
	committed, end, err := gw.GroupOffsets(ctx)
	cancel()
	if err != nil {
		s.log.Debug("stall watchdog: reading group offsets", "err", err)
		return
	}
	s.actMu.Lock()
	lastFetch := make(map[int]time.Time, len(s.activity))
	for p, t := range s.activity {
		lastFetch[p] = t
	}
	s.actMu.Unlock()
	active := func(p int) bool {
		return s.tr.busy(s.st.Input, p) || now.Sub(lastFetch[p]) < s.st.StallTimeout
	}
	stalled, recovered := s.wd.observe(now, committed, end, active)
	if recovered {
		s.m.stalled.Set(0)
		s.log.Info("stall cleared: stalled partitions are consumed again")
	}
	if len(stalled) == 0 {
		return
	}
	s.m.stalled.Set(1)
	s.m.rejoins.Inc()
	s.log.Error("stage stalled: partitions have lag and no progress; rejoining the consumer group",
		"partitions", stalled, "stall_timeout", s.st.StallTimeout)
	s.stop(errRejoin)
}

// commit flushes the processor (when it buffers) and commits every finished contiguous prefix
// of the partitions this member still owns.
func (s *session) commit(ctx context.Context) {
	if s.txn != nil {
		s.commitTxn(ctx)
		return
	}
	var ready []Message
	if f, ok := s.st.Processor.(Flusher); ok {
		s.flushMu.Lock()
		ready = s.tr.ready() // taken under the lock: everything in it has been processed
		var err error
		if len(ready) > 0 {
			err = f.Flush(ctx)
		}
		s.flushMu.Unlock()
		if err != nil {
			s.log.Error("flush failed; not committing", "err", err)
			return
		}
	} else {
		ready = s.tr.ready()
	}
	if po, ok := s.cons.(PartitionOwner); ok {
		kept := ready[:0]
		for _, m := range ready {
			if po.Owns(m.Topic, m.Partition) {
				kept = append(kept, m)
			} else {
				s.free(s.tr.forget(m.Topic, m.Partition))
			}
		}
		ready = kept
	}
	if len(ready) == 0 {
		return
	}
	if err := s.cons.Commit(ctx, ready...); err != nil {
		s.m.commitErrs.Inc()
		s.log.Warn("commit failed; inputs will be redelivered", "err", err)
		return
	}
	s.free(s.tr.committed(ready))
}

// commitTxn ends an exactly-once stage's transaction: fetching pauses, every fetched input
// finishes, then outputs and offsets commit together. If any input was abandoned (the stage is
// stopping) the transaction aborts instead, and everything uncommitted comes again.
func (s *session) commitTxn(ctx context.Context) {
	s.pauseMu.Lock()
	s.paused = true
	if s.fetchCancel != nil {
		s.fetchCancel()
	}
	for s.inFetch {
		s.pauseCond.Wait()
	}
	s.pauseMu.Unlock()
	defer func() {
		s.pauseMu.Lock()
		s.paused = false
		s.pauseCond.Broadcast()
		s.pauseMu.Unlock()
	}()
	s.items.Wait()
	if f, ok := s.st.Processor.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			s.log.Error("flush failed; aborting the transaction", "err", err)
			s.abandoned.Store(true)
		}
	}
	if s.abandoned.Load() {
		if err := s.txn.AbortTxn(ctx); err != nil {
			s.log.Warn("aborting the transaction", "err", err)
		}
		s.free(s.tr.reset())
		return
	}
	if len(s.tr.ready()) == 0 {
		return // nothing fetched since the last commit: keep the transaction open
	}
	committed, err := s.txn.CommitTxn(ctx)
	switch {
	case err != nil:
		s.m.commitErrs.Inc()
		s.log.Error("transaction failed; rejoining", "err", err)
		s.free(s.tr.reset())
		s.stop(errRejoin)
	case !committed:
		s.m.commitErrs.Inc()
		s.log.Warn("transaction aborted (the group rebalanced); its inputs come again")
		s.free(s.tr.reset())
	default:
		s.free(s.tr.committed(s.tr.ready()))
	}
}

// keyQueue runs inputs with the same key one after the other: an input waits while another
// with its key is being processed, and goes to the work queue when that one has handed its
// outputs to the publisher. Outputs of one key are therefore published in input order.
type keyQueue struct {
	mu   sync.Mutex
	busy map[string][]*item // key -> inputs waiting behind the one in progress
	work chan<- *item
}

func (k *keyQueue) submit(it *item) {
	k.mu.Lock()
	if w, ok := k.busy[string(it.msg.Key)]; ok {
		k.busy[string(it.msg.Key)] = append(w, it)
		k.mu.Unlock()
		return
	}
	k.busy[string(it.msg.Key)] = nil
	k.mu.Unlock()
	k.work <- it
}

func (k *keyQueue) release(it *item) {
	k.mu.Lock()
	w := k.busy[string(it.msg.Key)]
	if len(w) == 0 {
		delete(k.busy, string(it.msg.Key))
		k.mu.Unlock()
		return
	}
	next := w[0]
	if len(w) == 1 {
		k.busy[string(it.msg.Key)] = nil
	} else {
		k.busy[string(it.msg.Key)] = w[1:]
	}
	k.mu.Unlock()
	k.work <- next
}

// process calls the processor with retries; a panic is a permanent error.
func (r *Runner) process(ctx context.Context, st *Stage, log *slog.Logger, retries prometheus.Counter, m Message) ([]Message, error) {
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
		retries.Inc()
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

// publish writes outputs grouped by topic, retrying transport errors until ctx is done. A
// permanent error (the transport rejected a message for good) is returned at once.
func (r *Runner) publish(ctx context.Context, st *Stage, log *slog.Logger, retries prometheus.Counter, outs []Message) error {
	for i := 0; i < len(outs); {
		j := i
		for j < len(outs) && outs[j].Topic == outs[i].Topic {
			j++
		}
		for attempt := 1; ; attempt++ {
			err := r.transport.Publish(ctx, outs[i].Topic, outs[i:j]...)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if IsPermanent(err) {
				return err
			}
			retries.Inc()
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
