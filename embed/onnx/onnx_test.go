package onnx

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/conventions"
	"github.com/lsrflow/lsrflow/internal/testenv"
)

const python = "/usr/bin/python3"

func runPython(t testing.TB, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: run `scripts/setup.sh apt`", python)
	}
	cmd := exec.Command(python, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %v: %v\n%s (python3-onnx and python3-numpy come from `scripts/setup.sh apt`)", args, err, stderr.String())
	}
	return out
}

// makeEncoder generates the seeded test encoder into a temp dir.
func makeEncoder(t testing.TB, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "enc")
	runPython(t, append([]string{"testdata/make_encoder.py", dir}, args...)...)
	return dir
}

func libPath(t testing.TB) string {
	return testenv.CachePath(t, "ort", "ort", "libonnxruntime.so.1")
}

func reference(t *testing.T, dir string, texts []string, prefix string) [][]float64 {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var vecs [][]float64
	if err := json.Unmarshal(runPython(t, "testdata/reference.py", dir, in, prefix), &vecs); err != nil {
		t.Fatal(err)
	}
	return vecs
}

var texts = []string{
	"what is the capital of France?",
	"Paris is the capital of France.",
	"hello",
	"Café naïve résumé 中国人 ☃",
	"",
	strings.Repeat("the quick brown fox jumps ", 30), // truncated at 64 tokens
	"unbelievable tokenizers",
}

func compare(t *testing.T, got [][]float32, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d vectors, want %d", len(got), len(want))
	}
	var worst float64
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("vector %d has %d dims, want %d", i, len(got[i]), len(want[i]))
		}
		for k := range want[i] {
			d := math.Abs(float64(got[i][k]) - want[i][k])
			worst = max(worst, d)
			if d > tol {
				t.Errorf("text %d dim %d: got %v want %v (|diff| %.3g > %g)", i, k, got[i][k], want[i][k], d, tol)
				break
			}
		}
	}
	t.Logf("max |diff| vs numpy = %.3g", worst)
}

func TestMeanPoolingNormalizedMatchesNumpy(t *testing.T) {
	dir := makeEncoder(t)
	e, err := Open(dir, Options{LibraryPath: libPath(t), BatchSize: 3,
		Prefixes: embed.Prefixes{Query: "query: ", Passage: "passage: "}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dim() != 32 || e.pooling != PoolMean || !e.normalize {
		t.Fatalf("dim %d pooling %s normalize %v; want 32 mean true from the sentence-transformers config", e.Dim(), e.pooling, e.normalize)
	}
	for _, c := range []struct {
		kind   embed.Kind
		prefix string
	}{{embed.Query, "query: "}, {embed.Passage, "passage: "}} {
		got, err := e.Embed(t.Context(), texts, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, got, reference(t, dir, texts, c.prefix), 1e-5)
	}
}

func TestCLSPoolingUnnormalizedMatchesNumpy(t *testing.T) {
	dir := makeEncoder(t, "--pooling", "cls", "--no-normalize", "--seed", "11")
	e, err := Open(dir, Options{LibraryPath: libPath(t), BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, err := e.Embed(t.Context(), texts, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, reference(t, dir, texts, ""), 1e-5)
}

// TestBatchingInvariant: padding must not change a text's vector.
func TestBatchingInvariant(t *testing.T) {
	dir := makeEncoder(t)
	one, err := Open(dir, Options{LibraryPath: libPath(t), BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	all, err := Open(dir, Options{LibraryPath: libPath(t), BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	a, err := one.Embed(t.Context(), texts, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := all.Embed(t.Context(), texts, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		for k := range a[i] {
			if d := math.Abs(float64(a[i][k] - b[i][k])); d > 1e-5 {
				t.Fatalf("text %d: batch of 1 vs 64 differ by %g", i, d)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{LibraryPath: libPath(t)}); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Fatalf("empty dir: err = %v", err)
	}
	dir := makeEncoder(t)
	if _, err := Open(dir, Options{LibraryPath: libPath(t), Pooling: "max"}); err == nil {
		t.Fatal("pooling max accepted")
	}
	if _, err := Open(dir, Options{LibraryPath: "/nonexistent/libonnxruntime.so.1"}); err == nil {
		t.Fatal("a second library path was accepted in the same process")
	}
}

func BenchmarkEmbed(b *testing.B) {
	dir := makeEncoder(b)
	e, err := Open(dir, Options{LibraryPath: libPath(b), BatchSize: 32})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	batch := make([]string, 64)
	for i := range batch {
		batch[i] = "Harper Lee's 1960 novel won the Pulitzer Prize; it is set in Maycomb, Alabama, during the Great Depression."
	}
	for b.Loop() {
		if _, err := e.Embed(b.Context(), batch, embed.Passage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "texts/s")
}

// A bge-style directory that lost its sentence-transformers pooling file would default to mean
// pooling; the encoding FlashRAG's conventions give bge (cls, normalized, BGE's query
// instruction, 128-token queries) restores exactly the vectors of the cls-pooled model.
func TestConventionPoolingOverridesMissingPoolingFile(t *testing.T) {
	dir := makeEncoder(t, "--pooling", "cls", "--seed", "5")
	want := reference(t, dir, texts, conventions.BGEQuery)
	if err := os.Remove(filepath.Join(dir, "modules.json")); err != nil {
		t.Fatal(err)
	}
	enc, err := conventions.FlashRAG("bge", conventions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(dir, Options{LibraryPath: libPath(t), Pooling: Pooling(enc.Pooling), Normalize: enc.Normalize,
		Prefixes: enc.Prefixes, QueryMaxLength: enc.QueryMaxLength})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, err := e.Embed(t.Context(), texts, embed.Query)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, want, 1e-5)
	// without the convention the directory alone says mean pooling: different vectors
	plain, err := Open(dir, Options{LibraryPath: libPath(t), Prefixes: enc.Prefixes, Normalize: enc.Normalize})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	mean, _ := plain.Embed(t.Context(), texts[:1], embed.Query)
	if math.Abs(float64(mean[0][0])-want[0][0]) < 1e-4 && math.Abs(float64(mean[0][1])-want[0][1]) < 1e-4 {
		t.Error("mean pooling gave the cls vector: the test cannot tell them apart")
	}
}
