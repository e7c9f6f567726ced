package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/train"
)

func feed(t *testing.T, p *ptrain.Processor, from, to int) []streams.Message {
	t.Helper()
	var out []streams.Message
	for i := from; i < to; i++ {
		id := fmt.Sprintf("r%d", i)
		msgs, err := p.Process(context.Background(), streams.Message{Key: []byte(id), Value: scored(id)})
		if err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
		out = append(out, msgs...)
	}
	return out
}

func exampleIDs(tr *train.Trainer) []string {
	var ids []string
	for _, e := range tr.Data.Examples {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestTrainStageRestartContinues: a stage that stops without any shutdown (its process killed:
// no Close, records after the last Flush possibly lost from its log) and is started again on
// the same directory has the same dataset window, held-out set, parameters, optimizer step
// and published version; records the transport redelivers (those not committed) are not
// duplicated; and the next version it publishes is the next number.
func TestTrainStageRestartContinues(t *testing.T) {
	ctx := context.Background()
	ix := newToyIndex(40)
	dir := t.TempDir()
	opts := func(tr *train.Trainer) ptrain.Options {
		return ptrain.Options{Trainer: tr, Embedder: hashEmb{}, Dense: ix, Every: 20, StepsPerRound: 30, Dir: dir,
			UpdatesTopic: "updates", HoldOut: 0.25, MinHeldOut: 3, HeldOutWindow: 12, Tolerance: 1, LogSlack: 40}
	}
	const window = 50
	tr1 := newTrainer(t, ix, window)
	p1, err := ptrain.New(ctx, opts(tr1))
	if err != nil {
		t.Fatal(err)
	}
	ups := feed(t, p1, 0, 100)
	if len(ups) == 0 || p1.Version() == 0 {
		t.Fatalf("no version published before the crash (rounds %+v)", p1.Rounds())
	}
	// the runner flushes before it commits: everything up to r99 is committed
	if err := p1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// r100..r104 are processed but not committed when the process dies
	feed(t, p1, 100, 105)
	wantIDs := exampleIDs(tr1)
	_, wantPending, wantHeld := p1.Records()
	wantVersion, wantSteps := p1.Version(), tr1.StepsDone
	wantParams := tr1.Params.Clone()
	wantDigest := tr1.Data.Digest()
	if len(tr1.Data.Examples) > window {
		t.Fatalf("dataset holds %d examples, window %d", len(tr1.Data.Examples), window)
	}

	// restart: a new trainer and stage on the same directory; p1 is abandoned, not closed
	tr2 := newTrainer(t, ix, window)
	p2, err := ptrain.New(ctx, opts(tr2))
	if err != nil {
		t.Fatal(err)
	}
	if p2.Version() != wantVersion || tr2.StepsDone != wantSteps {
		t.Fatalf("restarted at version %d step %d, want %d and %d", p2.Version(), tr2.StepsDone, wantVersion, wantSteps)
	}
	for i := range wantParams.Len() {
		if tr2.Params.At(i) != wantParams.At(i) {
			t.Fatalf("parameter %d restored as %v, was %v", i, tr2.Params.At(i), wantParams.At(i))
		}
	}
	// the transport redelivers the uncommitted r100..r104: the dataset ends up as before
	feed(t, p2, 100, 105)
	if got := exampleIDs(tr2); !slices.Equal(got, wantIDs) {
		t.Fatalf("dataset after restart %v\nbefore %v", got, wantIDs)
	}
	if tr2.Data.Digest() != wantDigest {
		t.Fatal("dataset digest differs after the restart")
	}
	if _, pending, held := p2.Records(); held != wantHeld || pending != wantPending {
		t.Fatalf("held-out %d and pending %d after restart, %d and %d before", held, pending, wantHeld, wantPending)
	}
	// training goes on; the next publication is the next version number
	next := feed(t, p2, 105, 165)
	if len(next) == 0 {
		t.Fatalf("nothing published after the restart: %+v", p2.Rounds())
	}
	u, err := ptrain.DecodeUpdate(next[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != wantVersion+1 {
		t.Fatalf("published v%d after the restart, want v%d", u.Version, wantVersion+1)
	}
	a, err := adapter.Load(u.Path)
	if err != nil {
		t.Fatal(err)
	}
	// the checkpoint's training identity covers records from before the restart too
	if !slices.Contains(a.Meta.TrainIDs, wantIDs[0]) {
		t.Errorf("v%d does not list %s among its training queries", u.Version, wantIDs[0])
	}
	// the window log stays bounded (compacted)
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ptrain.WindowFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := countLines(b); n > 2*(window+12) {
		t.Errorf("window log holds %d lines, more than twice the %d+12 live records", n, window)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// recorder is a streams.Publisher that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []streams.Message
}

func (r *recorder) Publish(_ context.Context, topic string, msgs ...streams.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		m.Topic = topic
		r.msgs = append(r.msgs, m)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// TestTrainStageTimerFiresRounds: with fewer records than Every, no record triggers a round;
// the timer does, once the records have waited Interval, and publishes the update itself.
func TestTrainStageTimerFiresRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		ix := newToyIndex(40)
		pub := &recorder{}
		p, err := ptrain.New(ctx, ptrain.Options{Trainer: newTrainer(t, ix, 0), Embedder: hashEmb{}, Dense: ix, Every: 1000,
			Interval: time.Minute, StepsPerRound: 5, Dir: t.TempDir(), UpdatesTopic: "updates", HoldOut: 0.25, MinHeldOut: 1,
			Tolerance: 1, Publisher: pub})
		if err != nil {
			t.Fatal(err)
		}
		if out := feed(t, p, 0, 30); len(out) != 0 {
			t.Fatalf("a record triggered a round: %d messages", len(out))
		}
		tctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = p.RunTimer(tctx); close(done) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(p.Rounds()); n != 0 {
			t.Fatalf("%d rounds before the interval passed", n)
		}
		time.Sleep(45 * time.Second)
		synctest.Wait()
		if n := len(p.Rounds()); n != 1 {
			t.Fatalf("%d rounds after the interval, want 1", n)
		}
		if r := p.Rounds()[0]; !r.Published || pub.count() != 1 || pub.msgs[0].Topic != "updates" {
			t.Fatalf("round %+v, %d updates published", r, pub.count())
		}
		// nothing pending: the timer stays quiet
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(p.Rounds()); n != 1 {
			t.Fatalf("%d rounds with nothing pending", n)
		}
		stop()
		<-done
	})
}
