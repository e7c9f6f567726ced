package analysis

import (
	"sort"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval/bm25/internal/bm25ref"
)

// wordList is every distinct pre-stem word that split finds in the texts, plus GloVe's
// vocabulary (341k words), sorted.
func wordList(t *testing.T, texts []string, split func([]string, string) []string) []string {
	t.Helper()
	seen := map[string]bool{}
	var buf []string
	for _, s := range texts {
		buf = split(buf[:0], s)
		for _, w := range buf {
			seen[w] = true
		}
	}
	vec, err := static.LoadBinary(testenv.CachePath(t, "glove", static.GloveFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < vec.Len(); i++ {
		if w := vec.Word(i); !strings.ContainsAny(w, "\n\r") {
			seen[w] = true
		}
	}
	words := make([]string, 0, len(seen))
	for w := range seen {
		if w != "" {
			words = append(words, w)
		}
	}
	sort.Strings(words)
	return words
}

func compareStems(t *testing.T, name string, words, want []string, stem func(string) string) {
	t.Helper()
	if len(want) != len(words) {
		t.Fatalf("%s: reference returned %d stems for %d words", name, len(want), len(words))
	}
	bad := 0
	for i, w := range words {
		if got := stem(w); got != want[i] {
			if bad < 20 {
				t.Errorf("%s(%q) = %q, reference %q", name, w, got, want[i])
			}
			bad++
		}
	}
	t.Logf("%s: %d words, %d differ from the reference", name, len(words), bad)
}

// TestSnowballEnglishMatchesPyStemmer compares SnowballEnglish with PyStemmer's "english" on
// every word of QED and NQ (as bm25s splits them) and GloVe's vocabulary.
func TestSnowballEnglishMatchesPyStemmer(t *testing.T) {
	words := wordList(t, bm25ref.SharedTexts(t), splitBM25S)
	compareStems(t, "SnowballEnglish", words, bm25ref.BM25S(t, []string{"stem"}, words), SnowballEnglish)
}

// TestPorterMatchesLucene compares Porter with Lucene's PorterStemFilter on every word of QED
// and NQ (as the lucene analyzer splits them) and GloVe's vocabulary.
func TestPorterMatchesLucene(t *testing.T) {
	words := wordList(t, bm25ref.SharedTexts(t), splitLucene)
	compareStems(t, "Porter", words, bm25ref.Lucene(t, []string{"stem"}, words), Porter)
}

func compareAnalyzer(t *testing.T, a *Analyzer, texts, want []string) {
	t.Helper()
	if len(want) != len(texts) {
		t.Fatalf("reference returned %d lines for %d texts", len(want), len(texts))
	}
	bad := 0
	for i, s := range texts {
		ref := bm25ref.UnB64Fields(t, want[i])
		got := a.Terms(nil, s, nil)
		if len(ref) == 0 && a.emptyToken {
			ref = []string{""}
		}
		if strings.Join(got, "\x00") != strings.Join(ref, "\x00") {
			if bad < 10 {
				t.Errorf("%s analyzer on %q:\n got %q\nwant %q", a.Name(), s, got, ref)
			}
			bad++
		}
	}
	t.Logf("%s analyzer: %d texts, %d differ from the reference", a.Name(), len(texts), bad)
}

// TestBM25SAnalyzerMatchesReference compares the bm25s analyzer with bm25s' rules in Python on
// every QED passage and every QED and NQ question.
func TestBM25SAnalyzerMatchesReference(t *testing.T) {
	texts := bm25ref.SharedTexts(t)
	a, _ := ByName(BM25S)
	compareAnalyzer(t, a, texts, bm25ref.BM25S(t, []string{"analyze"}, bm25ref.B64(texts)))
}

// TestLuceneAnalyzerMatchesLucene compares the lucene analyzer with Lucene's own analyzer chain
// on every QED passage and every QED and NQ question.
func TestLuceneAnalyzerMatchesLucene(t *testing.T) {
	texts := bm25ref.SharedTexts(t)
	a, _ := ByName(Lucene)
	compareAnalyzer(t, a, texts, bm25ref.Lucene(t, []string{"analyze"}, bm25ref.B64(texts)))
}
