package analysis

import (
	"reflect"
	"testing"
)

// Examples from the algorithms' published descriptions (Porter 1980; snowballstem.org's
// English stemmer page), not from either implementation.
func TestStemmersHandChecked(t *testing.T) {
	porter := map[string]string{
		"caresses": "caress", "ponies": "poni", "ties": "ti", "caress": "caress", "cats": "cat",
		"feed": "feed", "agreed": "agre", "plastered": "plaster", "motoring": "motor",
		"sing": "sing", "conflated": "conflat", "hopping": "hop", "filing": "file",
		"relational": "relat", "generalization": "gener", "hopeful": "hope", "goodness": "good",
		"adjustment": "adjust", "probate": "probat", "controll": "control", "at": "at", "a": "a",
	}
	for w, want := range porter {
		if got := Porter(w); got != want {
			t.Errorf("Porter(%q) = %q, want %q", w, got, want)
		}
	}
	snowball := map[string]string{
		"consign": "consign", "consigned": "consign", "consigning": "consign",
		"consignment": "consign", "consist": "consist", "consisted": "consist",
		"knack": "knack", "knackeries": "knackeri", "knightly": "knight", "generously": "generous",
		"generate": "generat", "skies": "sky", "dying": "die", "news": "news", "cried": "cri",
		"ties": "tie", "hoping": "hope", "communism": "communism", "'tis": "tis", "by": "by",
	}
	for w, want := range snowball {
		if got := SnowballEnglish(w); got != want {
			t.Errorf("SnowballEnglish(%q) = %q, want %q", w, got, want)
		}
	}
}

func TestAnalyzersHandChecked(t *testing.T) {
	cases := []struct {
		analyzer, in string
		want         []string
	}{
		{Plain, "Who sang 'Don't Stop'?", []string{"who", "sang", "don", "t", "stop"}},
		{BM25S, "Who sang 'Don't Stop' in the U.S.?", []string{"who", "sang", "don", "stop"}},
		{BM25S, "the a of", []string{""}},
		{BM25S, "x_y 42nd café", []string{"x_i", "42nd", "café"}},
		{Lucene, "O'Neil's U.S.A. costs 1,000.50 in e-mail", []string{"o'neil", "u.s.a", "cost", "1,000.50", "e", "mail"}},
		{Lucene, "the and", nil},
		{Lucene, "東京 tower", []string{"東", "京", "tower"}},
	}
	for _, c := range cases {
		a, err := ByName(c.analyzer)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Terms(nil, c.in, nil); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s(%q) = %q, want %q", c.analyzer, c.in, got, c.want)
		}
	}
	if _, err := ByName("snowball"); err == nil {
		t.Error("unknown analyzer accepted")
	}
}

func TestStemCache(t *testing.T) {
	a, _ := ByName(Lucene)
	cache := map[string]string{}
	first := a.Terms(nil, "running runners ran", cache)
	second := a.Terms(nil, "running runners ran", cache)
	if !reflect.DeepEqual(first, second) || len(cache) != 3 {
		t.Fatalf("cached terms %q vs %q, cache %v", first, second, cache)
	}
}

// TestQueryAnalyzers: bm25s-unstemmed is the bm25s split and stopwords without the stemmer and
// without the empty token (bm25s.tokenize's defaults), only for bm25s indexes.
func TestQueryAnalyzers(t *testing.T) {
	q, err := ForQueries(BM25S, BM25SUnstemmed)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string][]string{
		"Who played the Knights in the U.S.?": {"who", "played", "knights"},
		"the a of":                            nil,
		"Generously CONSIGNED café":           {"generously", "consigned", "café"},
	} {
		if got := q.Terms(nil, in, nil); !reflect.DeepEqual(got, want) {
			t.Errorf("%s(%q) = %q, want %q", BM25SUnstemmed, in, got, want)
		}
	}
	for _, tc := range [][2]string{{BM25S, ""}, {BM25S, BM25S}, {Plain, Plain}, {Lucene, ""}} {
		a, err := ForQueries(tc[0], tc[1])
		if err != nil || a.Name() != tc[0] {
			t.Errorf("ForQueries(%q, %q) = %v, %v; want the index's analyzer", tc[0], tc[1], a, err)
		}
	}
	for _, tc := range [][2]string{{Plain, BM25SUnstemmed}, {Lucene, BM25SUnstemmed}, {BM25S, Lucene}, {BM25S, "stemless"}} {
		if _, err := ForQueries(tc[0], tc[1]); err == nil {
			t.Errorf("ForQueries(%q, %q) accepted", tc[0], tc[1])
		}
	}
}
