package dense

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

type question struct {
	ID       string   `json:"id"`
	Question string   `json:"question"`
	Gold     []string `json:"gold_doc_ids"`
}

func readQuestions(t testing.TB, rel string) []question {
	t.Helper()
	f, err := os.Open(testenv.SharedFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []question
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var q question
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	return out
}

// fixture is a QED index directory with a GloVe/SIF Flat dense index, built once per run.
type fixture struct {
	dir   string
	ix    *retrieval.Index
	r     *Retriever
	docs  []float32 // passage embeddings, row = ordinal
	dim   int
	qs    []question
	qvecs []float32
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func buildIndex(ctx context.Context, t testing.TB, dir string, opts StepOptions) {
	t.Helper()
	step, err := NewStep(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retrieval.Build(ctx, retrieval.BuildOptions{
		Corpus: testenv.SharedFile(t, "data/qed/corpus.jsonl"), Dir: dir, Steps: []retrieval.BuildStep{step},
	}); err != nil {
		t.Fatal(err)
	}
}

func qedFixture(t testing.TB) *fixture {
	t.Helper()
	testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	corpus := testenv.SharedFile(t, "data/qed/corpus.jsonl")
	qs := readQuestions(t, "data/qed/test.jsonl")
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lsrflow-dense-test-")
		if err != nil {
			fixErr = err
			return
		}
		ctx := context.Background()
		step, err := NewStep(StepOptions{Embedder: "glove", Factory: "Flat"})
		if err != nil {
			fixErr = err
			return
		}
		if _, err := retrieval.Build(ctx, retrieval.BuildOptions{Corpus: corpus, Dir: dir, Steps: []retrieval.BuildStep{step}}); err != nil {
			fixErr = err
			return
		}
		ix, err := retrieval.OpenIndex(dir)
		if err != nil {
			fixErr = err
			return
		}
		r, err := Open(ctx, ix, OpenOptions{})
		if err != nil {
			fixErr = err
			return
		}
		f := &fixture{dir: dir, ix: ix, r: r, dim: r.Embedder().Dim(), qs: qs}
		texts := make([]string, ix.Docs.Len())
		for i := range texts {
			_, texts[i], _ = ix.Docs.Doc(i)
		}
		dv, err := r.Embedder().Embed(ctx, texts, embed.Passage)
		if err != nil {
			fixErr = err
			return
		}
		for _, v := range dv {
			f.docs = append(f.docs, v...)
		}
		qt := make([]string, len(qs))
		for i, q := range qs {
			qt[i] = q.Question
		}
		qv, err := r.Embedder().Embed(ctx, qt, embed.Query)
		if err != nil {
			fixErr = err
			return
		}
		for _, v := range qv {
			f.qvecs = append(f.qvecs, v...)
		}
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		fix.r.Close()
		fix.ix.Close()
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// TestFlatMatchesExactScanOnQED: the FAISS Flat index and a float64 Go scan over the same
// passage embeddings give identical top-20 ids for every qed/test question.
func TestFlatMatchesExactScanOnQED(t *testing.T) {
	f := qedFixture(t)
	want, err := faissx.ExactSearch(f.docs, f.dim, f.qvecs, 20, faissx.InnerProduct)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.r.Index().Search(f.qvecs, 20)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for q := range want {
		for j := range want[q] {
			if got[q][j].ID != want[q][j].ID {
				differ++
				t.Errorf("question %d rank %d: faiss id %d (%.7f), exact id %d (%.7f)", q, j, got[q][j].ID, got[q][j].Score, want[q][j].ID, want[q][j].Score)
				break
			}
		}
	}
	t.Logf("%d questions, %d with a different top-20", len(want), differ)
	// and through the retriever: the passages are the docstore rows of those ids
	ps, err := f.r.SearchBatch(t.Context(), []string{f.qs[0].Question}, 20)
	if err != nil {
		t.Fatal(err)
	}
	for j, p := range ps[0] {
		id, _, _ := f.ix.Docs.Doc(int(want[0][j].ID))
		if p.ID != id {
			t.Fatalf("rank %d: passage %s, want %s", j, p.ID, id)
		}
	}
}

func TestHNSWAndIVFKeepFlatTop20OnQED(t *testing.T) {
	f := qedFixture(t)
	ref, err := f.r.Index().Search(f.qvecs, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		factory, param string
		value          float64
	}{{"HNSW32,Flat", "efSearch", 128}, {"IVF16,Flat", "nprobe", 8}} {
		x, err := faissx.New(f.dim, tc.factory, faissx.InnerProduct)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		if err := x.Build(f.docs); err != nil {
			t.Fatal(err)
		}
		if err := x.SetParam(tc.param, tc.value); err != nil {
			t.Fatal(err)
		}
		got, err := x.Search(f.qvecs, 20)
		if err != nil {
			t.Fatal(err)
		}
		var kept, total int
		for q := range ref {
			in := map[int64]bool{}
			for _, h := range got[q] {
				in[h.ID] = true
			}
			for _, h := range ref[q] {
				total++
				if in[h.ID] {
					kept++
				}
			}
		}
		r := float64(kept) / float64(total)
		t.Logf("%s (%s=%g) keeps %.4f of the Flat top-20 on qed/test", tc.factory, tc.param, tc.value, r)
		if r < 0.98 {
			t.Errorf("%s keeps %.4f of the Flat top-20, want >= 0.98", tc.factory, r)
		}
	}
}

func goldRecall(t testing.TB, r retrieval.BatchRetriever, qs []question, ks []int) map[int]float64 {
	t.Helper()
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Question
	}
	res, err := r.SearchBatch(context.Background(), texts, ks[len(ks)-1])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]float64{}
	for _, k := range ks {
		hit := 0
		for i, q := range qs {
			gold := map[string]bool{}
			for _, g := range q.Gold {
				gold[g] = true
			}
			for _, p := range res[i][:min(k, len(res[i]))] {
				if gold[p.ID] {
					hit++
					break
				}
			}
		}
		out[k] = float64(hit) / float64(len(qs))
	}
	return out
}

func TestGloveGoldRecallOnQED(t *testing.T) {
	f := qedFixture(t)
	rec := goldRecall(t, f.r, f.qs, []int{1, 5, 20})
	t.Logf("dense glove/SIF Flat on qed/test (%d questions): gold@1 %.3f @5 %.3f @20 %.3f (reference 0.462 / 0.657 / 0.779)", len(f.qs), rec[1], rec[5], rec[20])
	if rec[1] < 0.45 || rec[20] < 0.77 {
		t.Errorf("gold@1 %.3f (want >= 0.45), gold@20 %.3f (want >= 0.77)", rec[1], rec[20])
	}
}

func TestSearchBatchEqualsSearch(t *testing.T) {
	f := qedFixture(t)
	texts := []string{f.qs[0].Question, f.qs[1].Question, "", "zzzzqqq xxyyzz"}
	batch, err := f.r.SearchBatch(t.Context(), texts, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range texts {
		one, err := f.r.Search(t.Context(), q, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(one) != len(batch[i]) {
			t.Fatalf("%q: %d vs %d passages", q, len(one), len(batch[i]))
		}
		for j := range one {
			if one[j].ID != batch[i][j].ID || one[j].Contents == "" {
				t.Errorf("%q rank %d: %s vs %s", q, j, one[j].ID, batch[i][j].ID)
			}
		}
	}
	if _, err := f.r.Search(t.Context(), "x", 0); err == nil {
		t.Error("k=0: no error")
	}
	all, err := f.r.Search(t.Context(), f.qs[0].Question, 100000)
	if err != nil || len(all) != f.ix.Docs.Len() {
		t.Errorf("k > corpus: %d passages, %v", len(all), err)
	}
	if got, err := f.r.SearchBatch(t.Context(), nil, 3); err != nil || len(got) != 0 {
		t.Errorf("no questions: %v %v", got, err)
	}
}

// negate is an adapter that flips the query: the ranking becomes the reverse of the plain one.
type negate struct{}

func (negate) Apply(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = -x
	}
	return out
}
func (negate) Version() string { return "negate" }

type identity struct{}

func (identity) Apply(v []float32) []float32 { return v }
func (identity) Version() string             { return "identity" }

type badDim struct{}

func (badDim) Apply(v []float32) []float32 { return v[:len(v)-1] }
func (badDim) Version() string             { return "bad" }

// TestAdapterSwapUnderConcurrentSearch swaps adapters while searches run and checks that every
// result agrees with the adapter version reported beside it.
func TestAdapterSwapUnderConcurrentSearch(t *testing.T) {
	f := qedFixture(t)
	ctx := t.Context()
	q := f.qs[3].Question
	plain, err := f.r.Search(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetAdapter(negate{})
	neg, err := f.r.Search(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetAdapter(nil)
	// the negated query's best passage is the plain query's worst one
	worst, _ := f.r.Search(ctx, q, f.ix.Docs.Len())
	if neg[0].ID != worst[len(worst)-1].ID {
		t.Fatalf("negated top-1 %s, want the plain ranking's last %s", neg[0].ID, worst[len(worst)-1].ID)
	}
	defer f.r.SetAdapter(nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		adapters := []QueryAdapter{identity{}, negate{}, nil}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.r.SetAdapter(adapters[i%3])
		}
	})
	errs := make(chan error, 4)
	var searchers sync.WaitGroup
	for range 4 {
		searchers.Go(func() {
			for range 100 {
				res, info, err := f.r.SearchInfo(ctx, []string{q}, 1)
				if err != nil {
					errs <- err
					return
				}
				want := plain[0].ID
				if info.Version == f.r.base+"+adapter:negate" {
					want = neg[0].ID
				}
				if res[0][0].ID != want {
					errs <- fmt.Errorf("version %s returned %s, want %s", info.Version, res[0][0].ID, want)
					return
				}
			}
		})
	}
	searchers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.r.SetAdapter(badDim{})
	if _, err := f.r.Search(ctx, q, 3); err == nil {
		t.Error("adapter with the wrong output dimension: no error")
	}
	f.r.SetAdapter(nil)
	if v := f.r.Info().Version; v != f.r.base {
		t.Errorf("version without adapter %q, want %q", v, f.r.base)
	}
}

// TestOpenChecksEmbedder: a manifest whose recorded embedder name differs from what opens
// (e.g. SIF state edited or other vectors) is refused.
func TestOpenChecksEmbedder(t *testing.T) {
	f := qedFixture(t)
	m := f.ix.Manifest
	e, _ := m.DenseByName("")
	var ex extra
	if err := json.Unmarshal(e.Extra, &ex); err != nil {
		t.Fatal(err)
	}
	ex.EmbedderName = "glove.6B.100d+sif(a=0.001,fit=000000000000)"
	raw, _ := json.Marshal(ex)
	bad := *e
	bad.Extra = raw
	m2 := m
	m2.Dense = []retrieval.DenseEntry{bad}
	ix2 := &retrieval.Index{Dir: f.ix.Dir, Manifest: m2, Docs: f.ix.Docs}
	if _, err := Open(t.Context(), ix2, OpenOptions{}); err == nil {
		t.Error("mismatched embedder name: no error")
	}
	if _, err := Open(t.Context(), f.ix, OpenOptions{Name: "nosuch"}); err == nil {
		t.Error("unknown entry: no error")
	}
	for _, spec := range []string{"", "  "} {
		if _, err := NewStep(StepOptions{Embedder: spec}); err == nil {
			t.Errorf("spec %q: no error", spec)
		}
	}
	if _, err := NewStep(StepOptions{Embedder: "glove", Name: "../x"}); err == nil {
		t.Error("bad name: no error")
	}
}

// TestImportFlashRAGIndex: faiss-python writes e5_Flat.index the way FlashRAG does
// (index_factory(dim, "Flat", METRIC_INNER_PRODUCT), add every corpus row in order) from the
// corpus embeddings; an index directory importing it ranks exactly like the one built here.
func TestImportFlashRAGIndex(t *testing.T) {
	f := qedFixture(t)
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import faiss, numpy").Run(); err != nil {
		t.Fatalf("faiss-python is missing (%v): run `scripts/setup.sh faisspy`", err)
	}
	tmp := t.TempDir()
	raw := make([]byte, 0, 4*len(f.docs))
	for _, x := range f.docs {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	if err := os.WriteFile(filepath.Join(tmp, "emb.f32"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), py, "-c", `
import sys, faiss, numpy as np
d, dim = sys.argv[1], int(sys.argv[2])
x = np.fromfile(d + "/emb.f32", dtype="<f4").reshape(-1, dim)
idx = faiss.index_factory(dim, "Flat", faiss.METRIC_INNER_PRODUCT)
idx.add(x)
faiss.write_index(idx, d + "/e5_Flat.index")
`, tmp, fmt.Sprint(f.dim)).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "ix")
	buildIndex(t.Context(), t, dir, StepOptions{Embedder: "glove", Import: filepath.Join(tmp, "e5_Flat.index")})
	ix, err := retrieval.OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	r, err := Open(t.Context(), ix, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	texts := make([]string, len(f.qs))
	for i, q := range f.qs {
		texts[i] = q.Question
	}
	got, err := r.SearchBatch(t.Context(), texts, 20)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.r.SearchBatch(t.Context(), texts, 20)
	if err != nil {
		t.Fatal(err)
	}
	for q := range want {
		for j := range want[q] {
			if got[q][j].ID != want[q][j].ID {
				t.Fatalf("question %d rank %d: imported %s, built %s", q, j, got[q][j].ID, want[q][j].ID)
			}
		}
	}
	// a FAISS file of the wrong size is refused
	bad := filepath.Join(tmp, "bad.index")
	x, _ := faissx.New(f.dim, "Flat", faissx.InnerProduct)
	x.Add(f.docs[:10*f.dim])
	x.Save(bad)
	x.Close()
	step, _ := NewStep(StepOptions{Embedder: "glove", Import: bad})
	if _, err := retrieval.Build(t.Context(), retrieval.BuildOptions{
		Corpus: testenv.SharedFile(t, "data/qed/corpus.jsonl"), Dir: filepath.Join(tmp, "ix2"), Steps: []retrieval.BuildStep{step},
	}); err == nil {
		t.Error("import of a 10-row index for a 1343-passage corpus: no error")
	}
}

func TestPassageVectorsMatchIndex(t *testing.T) {
	f := qedFixture(t)
	got, err := f.r.PassageVectors(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(f.docs) {
		t.Fatalf("%d floats, want %d", len(got), len(f.docs))
	}
	for i := range got {
		if got[i] != f.docs[i] {
			t.Fatalf("float %d: %g, want %g", i, got[i], f.docs[i])
		}
	}
	// the index holds these vectors: each passage is its own nearest neighbour
	hits, err := f.r.Index().Search(got[:50*f.dim], 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hits {
		if len(h) == 0 || math.Abs(float64(h[0].Score)-1) > 1e-5 {
			t.Errorf("passage %d: nearest %v, want itself with score 1", i, h)
		}
	}
}
