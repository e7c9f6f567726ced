// Package streambench measures the stage runner on a transport: the two-stage pass-through
// topology (`lsrflow bench stream`, issue 13). Records of a given size are published to an
// input topic first; then a pass-through stage copies each to a middle topic and a counting
// stage consumes that. The clock runs from the start of both stages until the counter has seen
// every record, so the number is the topology's end-to-end rate, commits included.
package streambench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// Options size a run.
type Options struct {
	// Records and Size: how many records, of how many bytes of value each.
	Records int
	Size    int
	// Partitions of the topics the run creates (default 3).
	Partitions int
	// Concurrency of the pass-through stage (default 2, as synth's stages).
	Concurrency int
	// MaxInFlight of both stages (0: the runner's default).
	MaxInFlight int
	// Prefix names the run's topics and groups (default "bench-<unix nanos>").
	Prefix string
	// Timeout bounds the whole run (default 5 minutes).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	return o
}

// Result is one measured run.
type Result struct {
	Records int
	Elapsed time.Duration
}

// PerSecond is the run's rate.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// Key is the key of record i: spread over partitions, distinct per record.
func Key(i int) []byte { return fmt.Appendf(nil, "k%08d", i) }

// Values returns a pool of 1,024 distinct pseudo-random values of size bytes (a fixed seed),
// used in turn: a producer's compression finds nothing to squeeze, as with real payloads
// that are already dense, and the numbers measure the transport, not the codec.
func Values(size int) [][]byte {
	rng := rand.New(rand.NewPCG(13, 17))
	pool := make([][]byte, 1024)
	for i := range pool {
		pool[i] = make([]byte, size)
		for j := range pool[i] {
			pool[i][j] = byte(rng.Uint32())
		}
	}
	return pool
}

// Preload publishes the run's records to topic in batches of 1,000.
func Preload(ctx context.Context, pub streams.Publisher, topic string, n, size int) error {
	vals := Values(size)
	batch := make([]streams.Message, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, streams.Message{Key: Key(i), Value: vals[i%len(vals)]})
		if len(batch) == cap(batch) || i == n-1 {
			if err := pub.Publish(ctx, topic, batch...); err != nil {
				return fmt.Errorf("preloading %s: %w", topic, err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// TwoStage preloads the input, runs the pass-through and the counting stage on tr and returns
// the time from their start until every record reached the counter.
func TwoStage(ctx context.Context, tr streams.Transport, o Options) (Result, error) {
	o = o.withDefaults()
	if o.Records <= 0 || o.Size < 0 {
		return Result{}, errors.New("streambench: records must be positive and size not negative")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	in, mid := o.Prefix+".in", o.Prefix+".mid"
	if err := tr.EnsureTopics(ctx,
		streams.TopicSpec{Name: in, Partitions: o.Partitions, ReplicationFactor: 1},
		streams.TopicSpec{Name: mid, Partitions: o.Partitions, ReplicationFactor: 1},
	); err != nil {
		return Result{}, err
	}
	if err := Preload(ctx, tr, in, o.Records, o.Size); err != nil {
		return Result{}, err
	}

	// The counter marks records by key, so redeliveries do not count twice.
	seen := make([]atomic.Bool, o.Records)
	var count atomic.Int64
	all := make(chan struct{})
	counter := streams.ProcessorFunc(func(_ context.Context, m streams.Message) ([]streams.Message, error) {
		i, ok := keyIndex(m.Key)
		if !ok || i >= o.Records {
			return nil, streams.Permanent("bad_key", fmt.Errorf("unexpected key %q", m.Key))
		}
		if !seen[i].Swap(true) && count.Add(1) == int64(o.Records) {
			close(all)
		}
		return nil, nil
	})
	pass := streams.ProcessorFunc(func(_ context.Context, m streams.Message) ([]streams.Message, error) {
		return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
	})
	runner := streams.NewRunner(tr, nil, nil)
	stages := []streams.Stage{
		{Name: o.Prefix + "-pass", Input: in, Output: mid, DeadLetters: o.Prefix + ".dead", Processor: pass, Concurrency: o.Concurrency, MaxInFlight: o.MaxInFlight},
		{Name: o.Prefix + "-count", Input: mid, DeadLetters: o.Prefix + ".dead", Processor: counter, MaxInFlight: o.MaxInFlight},
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errs := make(chan error, len(stages))
	var wg sync.WaitGroup
	start := time.Now()
	for _, st := range stages {
		wg.Go(func() {
			if err := runner.Run(runCtx, st); err != nil {
				errs <- err
				stop()
			}
		})
	}
	var elapsed time.Duration
	select {
	case <-all:
		elapsed = time.Since(start)
	case <-runCtx.Done():
	}
	stop()
	wg.Wait()
	close(errs)
	if err := errors.Join(collect(errs)...); err != nil {
		return Result{}, err
	}
	if elapsed == 0 {
		return Result{}, fmt.Errorf("streambench: %d of %d records arrived before %w", count.Load(), o.Records, context.Cause(ctx))
	}
	return Result{Records: o.Records, Elapsed: elapsed}, nil
}

// keyIndex parses a Key.
func keyIndex(k []byte) (int, bool) {
	if len(k) != 9 || k[0] != 'k' {
		return 0, false
	}
	n := 0
	for _, c := range k[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// Rates are the numbers `lsrflow bench stream` prints, in records per second.
type Rates struct {
	Memory, Kafka, RawProduce, RawConsume float64
}

// Raw is the raw client's ceiling on the broker: the slower of producing and consuming.
func (r Rates) Raw() float64 { return min(r.RawProduce, r.RawConsume) }

// Ratio is the Kafka topology's rate over the raw ceiling.
func (r Rates) Ratio() float64 {
	if r.Raw() == 0 {
		return 0
	}
	return r.Kafka / r.Raw()
}

// RawClient is the Kafka client's own produce and consume path, measured side by side with
// the topology (streams/kafka's Transport).
type RawClient interface {
	streams.Transport
	RawProduce(ctx context.Context, topic string, n int, key func(int) []byte, vals [][]byte) (time.Duration, error)
	RawConsume(ctx context.Context, topic string, n int) (time.Duration, error)
}

// Compare measures, in one run, the two-stage topology on mem and on kafka, and the raw
// client's produce and consume on the same broker, o.Records records of o.Size bytes each.
// After an untimed warm-up at a tenth of the size (heap grown, connections open, group
// coordinators found), it interleaves rounds of the four measurements, so that a load change
// on a shared machine hits them alike, and reports each one's median.
func Compare(ctx context.Context, newMem func() streams.Transport, kafka RawClient, o Options, rounds int) (Rates, error) {
	o = o.withDefaults()
	rounds = max(rounds, 1)
	warm := o
	warm.Records = max(o.Records/10, 1)
	warm.Prefix = o.Prefix + ".warmup"
	if _, err := measure(ctx, newMem, kafka, warm); err != nil {
		return Rates{}, fmt.Errorf("warm-up: %w", err)
	}
	var all []Rates
	for i := range rounds {
		ro := o
		ro.Prefix = fmt.Sprintf("%s.r%d", o.Prefix, i)
		r, err := measure(ctx, newMem, kafka, ro)
		if err != nil {
			return Rates{}, err
		}
		all = append(all, r)
	}
	med := func(f func(Rates) float64) float64 {
		v := make([]float64, len(all))
		for i, r := range all {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Rates{
		Memory:     med(func(r Rates) float64 { return r.Memory }),
		Kafka:      med(func(r Rates) float64 { return r.Kafka }),
		RawProduce: med(func(r Rates) float64 { return r.RawProduce }),
		RawConsume: med(func(r Rates) float64 { return r.RawConsume }),
	}, nil
}

// measure is one round: each number once.
func measure(ctx context.Context, newMem func() streams.Transport, kafka RawClient, o Options) (Rates, error) {
	var r Rates
	mem := newMem()
	res, err := TwoStage(ctx, mem, o)
	_ = mem.Close()
	if err != nil {
		return r, fmt.Errorf("memory two-stage: %w", err)
	}
	r.Memory = res.PerSecond()

	raw := o.Prefix + ".raw"
	if err := kafka.EnsureTopics(ctx, streams.TopicSpec{Name: raw, Partitions: o.Partitions, ReplicationFactor: 1}); err != nil {
		return r, err
	}
	d, err := kafka.RawProduce(ctx, raw, o.Records, Key, Values(o.Size))
	if err != nil {
		return r, err
	}
	r.RawProduce = float64(o.Records) / d.Seconds()
	if d, err = kafka.RawConsume(ctx, raw, o.Records); err != nil {
		return r, err
	}
	r.RawConsume = float64(o.Records) / d.Seconds()

	ko := o
	ko.Prefix = o.Prefix + ".kafka"
	if res, err = TwoStage(ctx, kafka, ko); err != nil {
		return r, fmt.Errorf("kafka two-stage: %w", err)
	}
	r.Kafka = res.PerSecond()
	return r, nil
}
