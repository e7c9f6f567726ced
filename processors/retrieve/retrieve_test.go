package retrieve

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// listRetriever returns its passages for any question; version names it.
type listRetriever struct {
	version string
	docs    []schemas.Passage
	err     error
}

func (l *listRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	return l.docs[:min(k, len(l.docs))], l.err
}
func (l *listRetriever) Info() schemas.RetrieverInfo {
	return schemas.RetrieverInfo{Method: "list", Version: l.version}
}

// infoRetriever reports a version through SearchInfo that differs from Info, as a retriever
// whose adapter was swapped between the two calls would.
type infoRetriever struct{ listRetriever }

func (r *infoRetriever) SearchInfo(ctx context.Context, qs []string, k int) ([][]schemas.Passage, schemas.RetrieverInfo, error) {
	return [][]schemas.Passage{r.docs[:k]}, schemas.RetrieverInfo{Method: "list", Version: "from-search"}, nil
}

func query(t *testing.T, id string) streams.Message {
	b, _ := json.Marshal(map[string]any{"id": id, "question": "q " + id, "golden_answers": []string{"a"}})
	return streams.Message{Key: []byte(id), Value: b}
}

func decode(t *testing.T, outs []streams.Message) schemas.Candidates {
	t.Helper()
	if len(outs) != 1 {
		t.Fatalf("%d outputs, want 1", len(outs))
	}
	c, err := schemas.DecodeCandidates(outs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetrieveStampsVersionAndSwaps(t *testing.T) {
	docs := []schemas.Passage{{ID: "1", Contents: "a"}, {ID: "2", Contents: "b"}, {ID: "3", Contents: "c"}}
	p := New(&listRetriever{version: "v1", docs: docs}, 2)
	outs, err := p.Process(t.Context(), query(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	c := decode(t, outs)
	if string(outs[0].Key) != "x" || len(c.Docs) != 2 || c.Retriever.Version != "v1" || c.Query.GoldenAnswers[0] != "a" {
		t.Fatalf("candidates %+v", c)
	}
	p.Swap(&listRetriever{version: "v2", docs: docs})
	if c := decode(t, must(p.Process(t.Context(), query(t, "y")))); c.Retriever.Version != "v2" {
		t.Fatalf("after swap version %q", c.Retriever.Version)
	}
	p.Swap(&infoRetriever{listRetriever{version: "from-info", docs: docs}})
	if c := decode(t, must(p.Process(t.Context(), query(t, "z")))); c.Retriever.Version != "from-search" {
		t.Fatalf("version %q: want the one SearchInfo reported", c.Retriever.Version)
	}
}

func must(o []streams.Message, err error) []streams.Message {
	if err != nil {
		panic(err)
	}
	return o
}

func TestRetrieveErrors(t *testing.T) {
	p := New(&listRetriever{version: "v", err: errors.New("index busy")}, 2)
	if _, err := p.Process(t.Context(), query(t, "x")); err == nil || streams.IsPermanent(err) {
		t.Fatalf("retriever failure must be retriable, got %v", err)
	}
	_, err := p.Process(t.Context(), streams.Message{Value: []byte(`{"id":"x"}`)})
	if !streams.IsPermanent(err) || streams.ReasonOf(err) != schemas.ReasonMissingQuestion {
		t.Fatalf("bad query: %v (reason %q)", err, streams.ReasonOf(err))
	}
}
