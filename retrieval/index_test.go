package retrieval

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
