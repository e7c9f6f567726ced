package model2vec

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/testenv"
)

const python = "/usr/bin/python3"

func modelDir(t testing.TB) string {
	return filepath.Dir(testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors"))
}

func reference(t *testing.T, dir string, texts []string, prefix string) [][]float64 {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: run `scripts/setup.sh apt`", python)
	}
	in := filepath.Join(t.TempDir(), "in.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, "testdata/reference.py", dir, in, prefix)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference.py: %v\n%s", err, stderr.String())
	}
	var vecs [][]float64
	if err := json.Unmarshal(out, &vecs); err != nil {
		t.Fatal(err)
	}
	return vecs
}

var texts = []string{
	"Who wrote the novel To Kill a Mockingbird?",
	"Harper Lee's 1960 novel won the Pulitzer Prize; it is set in Maycomb, Alabama.",
	"Café naïve résumé — Zürich",
	"中国人 北京",
	"",
	"☃☃☃",
	strings.Repeat("retrieval augmented generation ", 300),
	"what is the capital of france",
}

func TestMatchesNumpyReference(t *testing.T) {
	dir := modelDir(t)
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Dim() != 64 {
		t.Fatalf("Dim = %d, want 64", m.Dim())
	}
	for _, prefix := range []string{"", "query: "} {
		m.prefixes = embed.Prefixes{Query: prefix}
		got, err := m.Embed(t.Context(), texts, embed.Query)
		if err != nil {
			t.Fatal(err)
		}
		want := reference(t, dir, texts, prefix)
		for i := range texts {
			var maxDiff float64
			for k := range got[i] {
				maxDiff = max(maxDiff, math.Abs(float64(got[i][k])-want[i][k]))
			}
			if maxDiff > 1e-6 {
				t.Errorf("prefix %q text %d (%.30q): max |diff| %.3g", prefix, i, texts[i], maxDiff)
			}
		}
	}
}

func TestNormalizationAndEmpty(t *testing.T) {
	m, err := Open(modelDir(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := m.Embed(t.Context(), []string{"hello world", ""}, embed.Passage)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, x := range vecs[0] {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-5 {
		t.Errorf("norm^2 = %v, want 1 (config normalize=true)", n)
	}
	for _, x := range vecs[1] {
		if x != 0 {
			t.Fatalf("empty text embeds to %v, want zeros", vecs[1])
		}
	}
	off := false
	raw, err := Open(modelDir(t), Options{Normalize: &off})
	if err != nil {
		t.Fatal(err)
	}
	rv, _ := raw.Embed(t.Context(), []string{"hello world"}, embed.Passage)
	var rn float64
	for _, x := range rv[0] {
		rn += float64(x) * float64(x)
	}
	if math.Abs(rn-1) < 1e-3 {
		t.Errorf("Normalize=false still gives a unit vector (norm^2 %v)", rn)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Fatalf("empty dir: err = %v", err)
	}
}

func BenchmarkEmbed(b *testing.B) {
	m, err := Open(modelDir(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]string, 64)
	for i := range batch {
		batch[i] = "Harper Lee's 1960 novel won the Pulitzer Prize; it is set in Maycomb, Alabama, during the Great Depression."
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Embed(b.Context(), batch, embed.Passage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "texts/s")
}

// Queries may have their own token cap (FlashRAG's retrieval_query_max_length): a query is
// embedded like a passage cut at that many tokens; passages keep the full cap.
func TestQueryMaxTokens(t *testing.T) {
	dir := modelDir(t)
	m, err := Open(dir, Options{QueryMaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	cut, err := Open(dir, Options{MaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	long := "the river danube flows through vienna budapest and belgrade to the black sea"
	q, _ := m.Embed(t.Context(), []string{long}, embed.Query)
	p, _ := m.Embed(t.Context(), []string{long}, embed.Passage)
	want, _ := cut.Embed(t.Context(), []string{long}, embed.Passage)
	if len(m.tokenIDs(long, m.qTokens, m.qChars)) != 4 {
		t.Fatalf("query ids %v", m.tokenIDs(long, m.qTokens, m.qChars))
	}
	for k := range q[0] {
		if q[0][k] != want[0][k] {
			t.Fatalf("dim %d: query %v, passage cut at 4 tokens %v", k, q[0][k], want[0][k])
		}
	}
	same := true
	for k := range p[0] {
		same = same && p[0][k] == want[0][k]
	}
	if same {
		t.Error("the passage was cut at the query cap")
	}
}
