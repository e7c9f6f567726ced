package retrieval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// recordStep is a BuildStep that remembers what it saw and records a dense entry.
type recordStep struct {
	ords     []int
	ids      []string
	finished int
}

func (s *recordStep) Name() string { return "record" }
func (s *recordStep) Add(ord int, id, contents string) error {
	s.ords = append(s.ords, ord)
	s.ids = append(s.ids, id)
	return nil
}
func (s *recordStep) Finish(ctx context.Context, ix *Index, m *Manifest) error {
	s.finished++
	if ix.Docs.Len() != len(s.ids) {
		return errors.New("docstore incomplete at Finish")
	}
	m.SetDense(DenseEntry{Name: "fake", Embedder: "none", IndexFactory: "Flat", Metric: "ip", Dim: 3, Path: "dense/fake"})
	return nil
}

const corpus = `{"id":"1","contents":"Alpha\nfirst passage"}
{"id":"2","contents":"Beta\nsecond"}
not json at all
[1,2,3]
{"id":"3"}
{"id":"4","title":"Gamma","text":"third"}
{"id":"5","contents":"` + "\xff" + `"}
{"id":"6","contents":"` + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + `"}
{"id":2,"contents":"Delta\nnumeric id, duplicate of 2"}
`

func buildTestIndex(t *testing.T) (string, *recordStep, BuildStats) {
	t.Helper()
	dir := t.TempDir()
	cpath := filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(cpath, []byte(corpus), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "idx")
	step := &recordStep{}
	st, err := Build(t.Context(), BuildOptions{Corpus: cpath, Dir: out, MaxLineBytes: 80, Steps: []BuildStep{step}})
	if err != nil {
		t.Fatal(err)
	}
	return out, step, st
}

func TestBuildAndOpen(t *testing.T) {
	out, step, st := buildTestIndex(t)
	if st.Docs != 4 || st.BadLines != 5 || st.Lines != 9 || st.DuplicateIDs != 1 {
		t.Errorf("stats = %+v, want 4 docs, 5 bad, 9 lines, 1 duplicate", st)
	}
	if strings.Join(step.ids, ",") != "1,2,4,2" || step.finished != 1 {
		t.Errorf("step saw ids %v (finished %d)", step.ids, step.finished)
	}
	for i, o := range step.ords {
		if o != i {
			t.Errorf("ordinal %d at position %d", o, i)
		}
	}

	// Dead letters: one per bad line, with its reason and original bytes.
	f, err := os.Open(filepath.Join(out, DeadLettersFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reasons []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		d, err := schemas.DecodeDeadLetter(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if d.Stage != "index" || len(d.Payload) == 0 {
			t.Errorf("dead letter %+v", d)
		}
		reasons = append(reasons, d.Reason)
	}
	want := []string{schemas.ReasonBrokenJSON, schemas.ReasonNotObject, schemas.ReasonInvalid, schemas.ReasonInvalidUTF8, schemas.ReasonTooLong}
	if strings.Join(reasons, ",") != strings.Join(want, ",") {
		t.Errorf("dead-letter reasons %v, want %v", reasons, want)
	}

	ix, err := OpenIndex(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	m := ix.Manifest
	if m.FormatVersion != ManifestVersion || m.NumDocs != 4 || m.Corpus.BadLines != 5 || !filepath.IsAbs(m.Corpus.Path) {
		t.Errorf("manifest %+v", m)
	}
	if e, ok := m.DenseByName("fake"); !ok || e.Dim != 3 {
		t.Errorf("dense entry not recorded: %+v", m.Dense)
	}
	if _, c, err := ix.Docs.Doc(2); err != nil || c != "Gamma\nthird" {
		t.Errorf("doc 2 = %q, %v", c, err)
	}
	if ord, ok := ix.Docs.Ordinal("2"); !ok || ord != 1 {
		t.Errorf("Ordinal(2) = %d, %v; want the first, 1", ord, ok)
	}
}

func TestOpenIndexErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o644)
	cases := map[string]struct {
		dir, want string
	}{
		"missing":   {filepath.Join(dir, "nope"), "does not exist"},
		"empty dir": {dir, "not an index directory"},
		"file":      {file, "not a directory"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := OpenIndex(c.dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("OpenIndex(%s) error %v, want it to say %q", c.dir, err, c.want)
			}
		})
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, ManifestFile), []byte(`{"format_version":99}`), 0o644)
	if _, err := OpenIndex(bad); err == nil || !strings.Contains(err.Error(), "format_version 99") {
		t.Errorf("future manifest: %v", err)
	}
	os.WriteFile(filepath.Join(bad, ManifestFile), []byte(`{`), 0o644)
	if _, err := OpenIndex(bad); err == nil {
		t.Error("broken manifest accepted")
	}
	ok := t.TempDir()
	if err := WriteManifest(ok, Manifest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenIndex(ok); err == nil || !strings.Contains(err.Error(), "docstore") {
		t.Errorf("manifest without docstore: %v", err)
	}
}

func TestWriteManifestAtomicRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := Manifest{NumDocs: 7, BM25: &BM25Entry{K1: 0.9, B: 0.4, Path: "bm25"}}
	m.SetDense(DenseEntry{Name: "a", Dim: 2})
	m.SetDense(DenseEntry{Name: "a", Dim: 5})
	if err := WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.FormatVersion != ManifestVersion || got.NumDocs != 7 || got.BM25.K1 != 0.9 || len(got.Dense) != 1 || got.Dense[0].Dim != 5 {
		t.Errorf("round trip: %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

type fakeRetriever struct{}

func (fakeRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	return nil, nil
}
func (fakeRetriever) Info() schemas.RetrieverInfo { return schemas.RetrieverInfo{Method: "fake"} }

func TestOpeners(t *testing.T) {
	out, _, _ := buildTestIndex(t)
	ix, err := OpenIndex(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ops := Openers{
		"fake": func(ctx context.Context, ix *Index) (Retriever, error) { return fakeRetriever{}, nil },
		"bm25": func(ctx context.Context, ix *Index) (Retriever, error) {
			return nil, &NotBuiltError{Dir: ix.Dir, Method: "bm25", Hint: "lsrflow index"}
		},
	}
	if r, err := ops.Open(t.Context(), ix, "fake"); err != nil || r.Info().Method != "fake" {
		t.Errorf("Open(fake) = %v, %v", r, err)
	}
	_, err = ops.Open(t.Context(), ix, "bm25")
	var nb *NotBuiltError
	if !errors.As(err, &nb) || !strings.Contains(err.Error(), "has no bm25 index; build it with lsrflow index") {
		t.Errorf("not built: %v", err)
	}
	_, err = ops.Open(t.Context(), ix, "nope")
	var um *UnknownMethodError
	if !errors.As(err, &um) || !strings.Contains(err.Error(), "known: bm25, fake") {
		t.Errorf("unknown method: %v", err)
	}
}

func TestBuildMissingCorpusAndCancel(t *testing.T) {
	if _, err := Build(t.Context(), BuildOptions{Corpus: filepath.Join(t.TempDir(), "nope"), Dir: t.TempDir()}); err == nil {
		t.Error("missing corpus accepted")
	}
	dir := t.TempDir()
	cpath := filepath.Join(dir, "c.jsonl")
	os.WriteFile(cpath, []byte(corpus), 0o644)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Build(ctx, BuildOptions{Corpus: cpath, Dir: filepath.Join(dir, "idx")}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled build: %v", err)
	}
	if _, err := OpenIndex(filepath.Join(dir, "idx")); err == nil {
		t.Error("a cancelled build left an openable index")
	}
}

// echoRetriever returns k passages derived from the question, after a delay that varies per
// question so that workers finish out of order.
type echoRetriever struct{}

func (echoRetriever) Search(ctx context.Context, q string, k int) ([]schemas.Passage, error) {
	if q == "fail" {
		return nil, errors.New("backend down")
	}
	time.Sleep(time.Duration(len(q)%3) * time.Millisecond)
	out := make([]schemas.Passage, k)
	for i := range out {
		out[i] = schemas.Passage{ID: fmt.Sprintf("%s#%d", q, i), Contents: q, Score: float64(k - i)}
	}
	return out, nil
}
func (echoRetriever) Info() schemas.RetrieverInfo { return schemas.RetrieverInfo{Method: "echo"} }

// batchEcho is echoRetriever as a BatchRetriever that records its batch sizes; its Search
// must not be called.
type batchEcho struct {
	echoRetriever
	mu    sync.Mutex
	sizes []int
}

func (b *batchEcho) Search(context.Context, string, int) ([]schemas.Passage, error) {
	panic("Search called on a BatchRetriever")
}

func (b *batchEcho) SearchBatch(ctx context.Context, qs []string, k int) ([][]schemas.Passage, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(qs))
	b.mu.Unlock()
	out := make([][]schemas.Passage, len(qs))
	for i, q := range qs {
		ps, err := b.echoRetriever.Search(ctx, q, k)
		if err != nil {
			return nil, err
		}
		out[i] = ps
	}
	return out, nil
}

// RetrieveFile writes the same output with one search per query and with batches (a
// BatchRetriever gets at most BatchSize queries per call, every query exactly once).
func TestRetrieveFile(t *testing.T) {
	b := &batchEcho{}
	plain := retrieveFileCase(t, echoRetriever{}, 0)
	batched := retrieveFileCase(t, b, 4)
	if !bytes.Equal(plain, batched) {
		t.Error("batched output differs from one search per query")
	}
	total := 0
	for _, n := range b.sizes {
		if n < 1 || n > 4 {
			t.Errorf("batch of %d queries, want 1..4", n)
		}
		total += n
	}
	if total != 43 || len(b.sizes) != 11 {
		t.Errorf("%d queries in %d batches, want 43 in 11", total, len(b.sizes))
	}
}

func retrieveFileCase(t *testing.T, r Retriever, batch int) []byte {
	t.Helper()
	dir := t.TempDir()
	var in strings.Builder
	var wantIDs []string
	for i := 0; i < 60; i++ {
		switch i % 10 {
		case 3:
			in.WriteString("{broken\n")
		case 5:
			in.WriteString(`{"id":"x","question":""}` + "\n")
		case 7:
			in.WriteString(`{"id":"y","question":"` + strings.Repeat("z", 300) + `"}` + "\n")
		default:
			id := fmt.Sprintf("q%d", i)
			wantIDs = append(wantIDs, id)
			fmt.Fprintf(&in, `{"id":%q,"question":"question %s%s","golden_answers":["a%d"],"gold_doc_ids":["d%d"]}`+"\n", id, id, strings.Repeat("?", i%5), i, i)
		}
	}
	in.WriteString(`{"id":"noans","question":"no answers here"}` + "\n")
	wantIDs = append(wantIDs, "noans")
	qpath := filepath.Join(dir, "q.jsonl")
	os.WriteFile(qpath, []byte(in.String()), 0o644)
	out, dl := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "r.dead.jsonl")
	st, err := RetrieveFile(t.Context(), r, RetrieveFileOptions{
		Queries: qpath, Out: out, DeadLetters: dl, TopK: 3, Workers: 3, MaxLineBytes: 200, BatchSize: batch,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Queries != len(wantIDs) || st.BadLines != 18 || st.Lines != 61 {
		t.Errorf("stats %+v, want %d queries, 18 bad, 61 lines", st, len(wantIDs))
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(wantIDs) {
		t.Fatalf("%d output lines, want %d", len(lines), len(wantIDs))
	}
	for i, l := range lines {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "question", "golden_answers", "docs"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("line %d lacks %q: %s", i, k, l)
			}
		}
		var rec RetrievedRecord
		json.Unmarshal([]byte(l), &rec)
		if rec.ID != wantIDs[i] {
			t.Fatalf("line %d has id %s, want %s (input order)", i, rec.ID, wantIDs[i])
		}
		if len(rec.Docs) != 3 || rec.Docs[0].Score != 3 || rec.Docs[0].Contents != rec.Question {
			t.Errorf("line %d docs %+v", i, rec.Docs)
		}
		if rec.ID != "noans" && (len(rec.GoldDocIDs) != 1 || len(rec.GoldenAnswers) != 1) {
			t.Errorf("line %d lost gold data: %s", i, l)
		}
		if rec.ID == "noans" && (string(raw["golden_answers"]) != "[]" || raw["gold_doc_ids"] != nil) {
			t.Errorf("no-answer line: %s", l)
		}
	}
	db, _ := os.ReadFile(dl)
	reasons := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(db)), "\n") {
		d, err := schemas.DecodeDeadLetter([]byte(l))
		if err != nil || d.Stage != "retrieve" {
			t.Fatalf("dead letter %q: %v", l, err)
		}
		reasons[d.Reason]++
	}
	if reasons[schemas.ReasonBrokenJSON] != 6 || reasons[schemas.ReasonMissingQuestion] != 6 || reasons[schemas.ReasonTooLong] != 6 {
		t.Errorf("dead-letter reasons %v", reasons)
	}
	return b
}

func TestRetrieveFileSearchErrorLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	qpath := filepath.Join(dir, "q.jsonl")
	os.WriteFile(qpath, []byte(`{"id":"1","question":"ok"}`+"\n"+`{"id":"2","question":"fail"}`+"\n"), 0o644)
	out := filepath.Join(dir, "r.jsonl")
	_, err := RetrieveFile(t.Context(), echoRetriever{}, RetrieveFileOptions{Queries: qpath, Out: out, DeadLetters: filepath.Join(dir, "d.jsonl"), TopK: 2})
	if err == nil || !strings.Contains(err.Error(), "backend down") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial output left at %s", out)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
	if _, err := RetrieveFile(t.Context(), echoRetriever{}, RetrieveFileOptions{Queries: qpath, Out: out, DeadLetters: filepath.Join(dir, "d.jsonl"), TopK: 0}); err == nil {
		t.Error("topk 0 accepted")
	}
}
