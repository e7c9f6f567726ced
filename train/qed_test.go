package train_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/pipeline"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/jsonl"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/teachers/answermatch"
	"github.com/lsrflow/lsrflow/train"
)

// qedCacheVersion changes the cache key when the way the fixture is produced changes.
const qedCacheVersion = "1"

// qedTopK is the synth depth (candidates per question).
var qedTopK = 100

type qedFixture struct {
	ix      *retrieval.Index
	r       *dense.Retriever
	records []schemas.Scored
	evalQs  []train.EvalQuery
	trainQs []train.EvalQuery // qed/train, for the leakage guard test
}

var (
	qedOnce sync.Once
	qedFix  *qedFixture
	qedErr  error
)

func statKey(paths ...string) string {
	h := sha256.New()
	fmt.Fprintln(h, qedCacheVersion)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err == nil {
			fmt.Fprintln(h, p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// cached builds dst with build(tmp) unless it exists; tmp is renamed into place when done, so
// a half-built cache entry is never used (concurrent test processes race harmlessly).
func cached(dst string, build func(tmp string) error) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(dst); serr == nil {
			return nil // another process won
		}
		return err
	}
	return nil
}

// loadQED builds (or reuses) the GloVe dense index over qed/corpus and the answer-match synth
// output (top-20, --method dense) of qed/train and nq-open/dev, cached under the system temp
// directory keyed by the input files.
func loadQED(t testing.TB) *qedFixture {
	t.Helper()
	glove := testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	corpus := testenv.SharedFile(t, "data/qed/corpus.jsonl")
	qtrain := testenv.SharedFile(t, "data/qed/train.jsonl")
	nqdev := testenv.SharedFile(t, "data/nq-open/dev.jsonl")
	qtest := testenv.SharedFile(t, "data/qed/test.jsonl")
	qedOnce.Do(func() { qedFix, qedErr = buildQED(glove, corpus, qtrain, nqdev, qtest) })
	if qedErr != nil {
		t.Fatal(qedErr)
	}
	return qedFix
}

func buildQED(glove, corpus, qtrain, nqdev, qtest string) (*qedFixture, error) {
	ctx := context.Background()
	root := filepath.Join(os.TempDir(), "lsrflow-train-qed-"+statKey(glove, corpus, qtrain, nqdev))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	ixDir := filepath.Join(root, "index")
	if err := cached(ixDir, func(tmp string) error {
		step, err := dense.NewStep(dense.StepOptions{Embedder: "glove:" + glove, Factory: "Flat"})
		if err != nil {
			return err
		}
		_, err = retrieval.Build(ctx, retrieval.BuildOptions{Corpus: corpus, Dir: tmp, Steps: []retrieval.BuildStep{step}})
		return err
	}); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	ix, err := retrieval.OpenIndex(ixDir)
	if err != nil {
		return nil, err
	}
	r, err := dense.Open(ctx, ix, dense.OpenOptions{GloveVectors: glove})
	if err != nil {
		return nil, err
	}
	f := &qedFixture{ix: ix, r: r}
	teacher, err := answermatch.New(answermatch.Options{})
	if err != nil {
		return nil, err
	}
	for _, q := range []struct{ name, path string }{{"qed-train", qtrain}, {"nq-dev", nqdev}} {
		out := filepath.Join(root, fmt.Sprintf("synth-%s-k%d", q.name, qedTopK))
		if err := cached(out, func(tmp string) error {
			_, err := pipeline.Synth(ctx, pipeline.SynthOptions{
				Transport: memory.New(), Retriever: r, Teacher: teacher, TopK: qedTopK, QueriesPath: q.path, OutDir: tmp, Progress: io.Discard, // nil Progress panics in progress.Bar.Done (reported)
				Concurrency: map[string]int{pipeline.StageRetrieve: 2, pipeline.StageTeach: 2},
			})
			return err
		}); err != nil {
			return nil, fmt.Errorf("synth %s: %w", q.name, err)
		}
		recs, err := jsonl.ReadAll(filepath.Join(out, pipeline.ScoredFile), schemas.DecodeScored)
		if err != nil {
			return nil, err
		}
		f.records = append(f.records, recs...)
	}
	if f.evalQs, _, err = train.ReadEvalQueries(qtest); err != nil {
		return nil, err
	}
	if f.trainQs, _, err = train.ReadEvalQueries(qtrain); err != nil {
		return nil, err
	}
	return f, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if qedFix != nil {
		qedFix.r.Close()
		qedFix.ix.Close()
	}
	os.Exit(code)
}

// trainQED trains an adapter on the fixture's records with cfg and returns before/after
// gold recall on qed/test (whole-corpus retrieval through the FAISS index).
func trainQED(t testing.TB, f *qedFixture, cfg train.Config) (before, after map[string]float64, tr *train.Trainer) {
	t.Helper()
	ctx := context.Background()
	emb := f.r.Embedder()
	pass, err := train.EmbedCorpus(ctx, emb, f.ix.Docs)
	if err != nil {
		t.Fatal(err)
	}
	ds := train.NewDataset()
	if _, err := ds.Add(ctx, emb, pass, f.records); err != nil {
		t.Fatal(err)
	}
	tr, err = train.NewTrainer(cfg, pass, ds)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := train.NewEvaluator(ctx, emb, f.evalQs, nil, train.DenseSearch(f.r))
	if err != nil {
		t.Fatal(err)
	}
	if before, err = ev.Eval(ctx, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := tr.Train(ctx, tr.Cfg.Steps); err != nil {
		t.Fatal(err)
	}
	a, err := tr.Adapter(train.CheckpointInfo{Version: 1, BaseEmbedder: emb.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if after, err = ev.Eval(ctx, a); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d examples (skipped %v), %d steps in %.1fs, loss %.4f; cfg %+v", ds.Len(), ds.Skipped, tr.StepsDone, time.Since(start).Seconds(), tr.LastLoss, tr.Cfg)
	return before, after, tr
}

func fmtRecall(m map[string]float64) string {
	return fmt.Sprintf("%.3f/%.3f/%.3f", m["gold_recall@1"], m["gold_recall@5"], m["gold_recall@20"])
}

// TestQEDAdapterBeatsUntrainedGlove is the acceptance measurement: GloVe dense
// retriever, answer-match teacher, synth (--method dense, top-100) on qed/train + nq-open/dev,
// DefaultConfig training, evaluated on qed/test with whole-corpus retrieval through FAISS.
// Measured (seed 1): 0.540/0.748/0.847 -> 0.613/0.816/0.917 at @1/@5/@20 (+7.3/+6.8/+7.0);
// seed 2: 0.613/0.821/0.909. The first run builds the synth cache (~40 s), later runs reuse it.
func TestQEDAdapterBeatsUntrainedGlove(t *testing.T) {
	f := loadQED(t)
	before, after, tr := trainQED(t, f, train.DefaultConfig())
	t.Logf("qed/test gold recall @1/@5/@20: before %s after %s", fmtRecall(before), fmtRecall(after))
	if g := after["gold_recall@1"] - before["gold_recall@1"]; g < 0 {
		t.Errorf("gold_recall@1 dropped by %.3f", -g)
	}
	for _, k := range []int{5, 20} {
		n := train.MetricName(k)
		if g := after[n] - before[n]; g < 0.06 {
			t.Errorf("%s improved by %.3f, want >= 0.060", n, g)
		}
	}
	// absolute figures of the reference prototype (0.532/0.761/0.881) are beaten too
	if after["gold_recall@1"] < 0.532 || after["gold_recall@5"] < 0.761 || after["gold_recall@20"] < 0.881 {
		t.Errorf("after %s does not beat the prototype's 0.532/0.761/0.881", fmtRecall(after))
	}
	// no training question is an evaluation question, and the guard agrees
	g := train.NewLeakGuard()
	g.AddDataset(tr.Data)
	if n, err := g.Check(f.evalQs, false); n != 0 || err != nil {
		t.Errorf("qed/test overlaps the training data: %d, %v", n, err)
	}
}

// TestLeakGuardOnSharedData: trained on qed/train, the guard refuses qed/train as an eval set
// and finds its 492 NQ-open test questions in nq-open/test by normalized text (ids differ).
func TestLeakGuardOnSharedData(t *testing.T) {
	f := loadQED(t)
	g := train.NewLeakGuard()
	for _, r := range f.records {
		if strings.HasPrefix(r.ID, "qed_") {
			g.Add(r.ID, r.Query)
		}
	}
	n, err := g.Check(f.trainQs, false)
	var le *train.LeakError
	if !errors.As(err, &le) || n != len(f.trainQs) {
		t.Fatalf("qed/train as eval set: overlap %d of %d, err %v", n, len(f.trainQs), err)
	}
	if n2, err := g.Check(f.trainQs, true); err != nil || n2 != n {
		t.Fatalf("forced: %d, %v", n2, err)
	}
	b, err := os.ReadFile(testenv.SharedFile(t, "data/nq-open/test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		q, err := schemas.DecodeQuery([]byte(line))
		if err == nil && g.Contains(q.ID, q.Question) {
			hits++
		}
	}
	if hits < 492 {
		t.Errorf("guard found %d nq-open/test questions among qed/train, want >= 492", hits)
	}
	t.Logf("nq-open/test questions that are qed/train questions: %d", hits)
}
