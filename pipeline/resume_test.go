package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/teachers/answermatch"
)

// stubRetriever returns three passages, the first holding the question's answer; with hold
// set it holds every question after the first `after` until hold is closed (a process about to
// be stopped).
type stubRetriever struct {
	calls atomic.Int32
	after int32
	hold  chan struct{}
}

func (r *stubRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	if r.hold != nil && r.calls.Add(1) > r.after {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []schemas.Passage{
		{ID: "d1", Contents: "title\nthe answer to " + q + " is yes", Score: 3},
		{ID: "d2", Contents: "title\nnothing", Score: 2},
		{ID: "d3", Contents: "title\nmore nothing", Score: 1},
	}, nil
}

func (r *stubRetriever) Info() schemas.RetrieverInfo { return schemas.RetrieverInfo{Method: "stub"} }

func writeQueries(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("q%03d", i), "question": fmt.Sprintf("question %d", i), "golden_answers": []string{"yes"}})
		b.Write(append(line, '\n'))
	}
	b.WriteString("not json\n") // one bad line: an ingest dead letter
	path := filepath.Join(t.TempDir(), "q.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func scoredLines(t *testing.T, dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, ScoredFile))
	return bytes.Count(b, []byte("\n"))
}

// A run killed mid-way (here: cancelled after its queries were published) leaves them in the
// topics, where the transport outlives it like a Kafka cluster; the next run reads them back,
// publishes nothing again and finishes from the groups' commits.
func TestSynthResumesFromTopics(t *testing.T) {
	const n = 40
	tr := memory.New()
	teacher, err := answermatch.New(answermatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queries, out := writeQueries(t, n), t.TempDir()
	opts := func(r *stubRetriever) SynthOptions {
		return SynthOptions{Transport: tr, Retriever: r, Teacher: teacher, TopK: 3, QueriesPath: queries, OutDir: out}
	}

	r1 := &stubRetriever{after: 10, hold: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for scoredLines(t, out) < 5 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		close(r1.hold) // the held questions finish; the queued ones stay for the next run
	}()
	if _, err := Synth(ctx, opts(r1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want it cancelled", err)
	}
	first := scoredLines(t, out)
	if first == 0 || first >= n {
		t.Fatalf("first run scored %d of %d: the test needs a run that stopped half-way", first, n)
	}

	sum, err := Synth(t.Context(), opts(&stubRetriever{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tr.Messages(DefaultTopics("").Queries)); got != n {
		t.Errorf("queries topic holds %d messages for %d questions: the restart published again", got, n)
	}
	if sum.Ingested != 0 || sum.InTopics != n-sum.AlreadyDone {
		t.Errorf("second run: ingested %d, taken up from the topics %d, already done %d; want 0, %d", sum.Ingested, sum.InTopics, sum.AlreadyDone, n-sum.AlreadyDone)
	}
	if got := scoredLines(t, out); got != n {
		t.Errorf("scored.jsonl has %d lines, want %d", got, n)
	}
	dead := 0
	for _, m := range tr.Messages(DefaultTopics("").DeadLetters) {
		if d, err := schemas.DecodeDeadLetter(m.Value); err == nil && d.Stage == StageIngest {
			dead++
		}
	}
	if dead != 1 {
		t.Errorf("the bad line was dead-lettered %d times, want once", dead)
	}
}

// When the topics say a question was published but nothing will ever deliver it again (here
// scored.jsonl was deleted after every record was committed), the run notices that nothing
// finishes and publishes the missing questions again, once.
func TestSynthRepublishesWhatTheTopicsNoLongerCarry(t *testing.T) {
	const n = 12
	tr := memory.New()
	teacher, err := answermatch.New(answermatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queries, out := writeQueries(t, n), t.TempDir()
	o := SynthOptions{Transport: tr, Retriever: &stubRetriever{}, Teacher: teacher, TopK: 3, QueriesPath: queries, OutDir: out,
		ResumeGrace: 300 * time.Millisecond}
	if _, err := Synth(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(out, ScoredFile)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := Synth(ctx, o); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := scoredLines(t, out); got != n {
		t.Errorf("scored.jsonl has %d lines, want %d", got, n)
	}
	if got := len(tr.Messages(DefaultTopics("").Queries)); got != 2*n {
		t.Errorf("queries topic holds %d messages, want %d (everything published once more)", got, 2*n)
	}
}

// The read-back is trusted only for the topics the output directory's state names.
func TestPublishedNeedsMatchingState(t *testing.T) {
	tr := memory.New()
	topics, out := DefaultTopics(""), t.TempDir()
	if q, d, err := published(t.Context(), tr, out, topics); err != nil || q != nil || d != nil {
		t.Fatalf("no state file: %v %v %v, want nothing", q, d, err)
	}
	if err := writeStreamState(out, DefaultTopics("other")); err != nil {
		t.Fatal(err)
	}
	if q, _, err := published(t.Context(), tr, out, topics); err != nil || q != nil {
		t.Fatalf("state of other topics: %v %v, want nothing", q, err)
	}
}
