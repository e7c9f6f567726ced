package synthcorpus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
)

// vocab is a ranked vocabulary of 3-letter words plus entries the generator must skip.
func vocab() []string {
	words := []string{"The", ",", "naïve", "x1"} // not lowercase ASCII: dropped
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			for c := 'a'; c <= 'z'; c++ {
				words = append(words, string([]rune{a, b, c}))
			}
		}
	}
	return words
}

func gen(t *testing.T, o Options) *Generator {
	t.Helper()
	g, err := New(vocab(), o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func corpus(t *testing.T, g *Generator) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := g.WriteCorpus(t.Context(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministicWhateverTheWorkers(t *testing.T) {
	one := corpus(t, gen(t, Options{Passages: 5000, Seed: 7, Workers: 1}))
	three := corpus(t, gen(t, Options{Passages: 5000, Seed: 7, Workers: 3}))
	if !bytes.Equal(one, three) {
		t.Fatal("1 and 3 workers wrote different corpora")
	}
	if other := corpus(t, gen(t, Options{Passages: 5000, Seed: 8, Workers: 2})); bytes.Equal(one, other) {
		t.Fatal("seeds 7 and 8 wrote the same corpus")
	}
	small := corpus(t, gen(t, Options{Passages: 3001, Seed: 7}))
	if !bytes.HasPrefix(one, small) {
		t.Fatal("the 3001-passage corpus is not a prefix of the 5000-passage one")
	}
}

func TestCorpusLinesDecodeAndMatchRandomAccess(t *testing.T) {
	g := gen(t, Options{Passages: 3000, Seed: 1})
	sc := bufio.NewScanner(bytes.NewReader(corpus(t, g)))
	sc.Buffer(nil, 1<<20)
	n, words, titles := 0, 0, map[string]int{}
	for sc.Scan() {
		d, err := schemas.DecodeCorpusDoc(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		id, contents := g.Passage(n)
		if d.ID != id || d.Contents != contents {
			t.Fatalf("line %d = %q/%q, Passage(%d) = %q/%q", n, d.ID, d.Contents, n, id, contents)
		}
		title, text, ok := strings.Cut(d.Contents, "\n")
		if !ok || title == "" || !strings.HasSuffix(text, ".") {
			t.Fatalf("line %d: contents %q is not Title\\ntext.", n, d.Contents)
		}
		nw := len(strings.Fields(text))
		if nw < 2*questionWin || nw > DefaultWordsPerPassage {
			t.Fatalf("line %d: %d words", n, nw)
		}
		words += nw
		titles[title]++
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("%d lines, want 3000", n)
	}
	// Geometric articles of mean 4, full passages of 100 words with a shorter last one.
	if mean := float64(n) / float64(len(titles)); mean < 3 || mean > 5.5 {
		t.Errorf("%.2f passages per title, want about 4 (titles may repeat across articles)", mean)
	}
	if mean := float64(words) / float64(n); mean < 80 || mean > 95 {
		t.Errorf("%.1f words per passage, want 80..95 (100, the last of an article 12..100)", mean)
	}
}

// Word ranks below minTopicRank are drawn from the Zipf distribution alone, with probability
// 1-TopicShare per word: their observed shares must follow r^-s / H.
func TestWordsFollowZipf(t *testing.T) {
	for _, s := range []float64{1, 1.3} {
		g := gen(t, Options{Passages: 2000, Seed: 3, ZipfS: s})
		rank := map[string]int{}
		for r := range g.Vocabulary() {
			rank[g.Word(r)] = r
		}
		counts := make([]int, g.Vocabulary())
		total := 0
		for i := range 2000 {
			_, c := g.Passage(i)
			_, text, _ := strings.Cut(c, "\n")
			for _, w := range strings.Fields(strings.ToLower(strings.ReplaceAll(text, ".", ""))) {
				counts[rank[w]]++
				total++
			}
		}
		var h float64
		for r := range g.Vocabulary() {
			h += math.Pow(float64(r+1), -s)
		}
		for _, r := range []int{0, 1, 4, 9, 49} {
			want := (1 - DefaultTopicShare) * math.Pow(float64(r+1), -s) / h * float64(total)
			sd := math.Sqrt(want)
			if got := float64(counts[r]); math.Abs(got-want) > 5*sd+1 {
				t.Errorf("s=%g rank %d: %v occurrences, want %.0f +- %.0f", s, r+1, got, want, 5*sd)
			}
		}
	}
}

func TestAliasMatchesWeights(t *testing.T) {
	w := []float64{5, 0, 1, 3, 0.5, 0.5}
	a := newAlias(w)
	r := newRNG(1, 2, 3)
	const n = 600_000
	counts := make([]int, len(w))
	for range n {
		counts[a.draw(&r)]++
	}
	for i, wi := range w {
		want := wi / 10 * n
		if math.Abs(float64(counts[i])-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("outcome %d: %d draws, want %.0f", i, counts[i], want)
		}
	}
}

func TestQuestionsHaveTheirAnswerInTheGoldPassage(t *testing.T) {
	g := gen(t, Options{Passages: 4000, Train: 300, Test: 200, Seed: 11})
	var train, test bytes.Buffer
	if err := g.WriteQuestions(t.Context(), &train, &test); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for part, buf := range []*bytes.Buffer{&train, &test} {
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if want := []int{300, 200}[part]; len(lines) != want {
			t.Fatalf("part %d: %d lines, want %d", part, len(lines), want)
		}
		for _, line := range lines {
			q, err := schemas.DecodeQuery([]byte(line))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if ids[q.ID] {
				t.Fatalf("duplicate question id %s", q.ID)
			}
			ids[q.ID] = true
			if len(q.GoldenAnswers) != 1 || len(q.GoldDocIDs) != 1 {
				t.Fatalf("%s: answers %v, gold %v", q.ID, q.GoldenAnswers, q.GoldDocIDs)
			}
			var ord int
			for _, c := range q.GoldDocIDs[0] {
				ord = ord*10 + int(c-'0')
			}
			_, contents := g.Passage(ord)
			title, text, _ := strings.Cut(strings.ToLower(contents), "\n")
			passageWords := strings.Fields(strings.ReplaceAll(text, ".", ""))
			qWords := strings.Fields(q.Question)
			if qWords[0] != "what" || len(qWords) < 2 {
				t.Fatalf("%s: question %q", q.ID, q.Question)
			}
			ans := q.GoldenAnswers[0]
			if !slices.Contains(passageWords, ans) {
				t.Fatalf("%s: answer %q not in gold passage %s", q.ID, ans, q.GoldDocIDs[0])
			}
			for _, w := range qWords[1:] {
				if w == ans {
					t.Fatalf("%s: the question %q gives the answer away", q.ID, q.Question)
				}
				if !slices.Contains(passageWords, w) && !slices.Contains(strings.Fields(title), w) {
					t.Fatalf("%s: question word %q is in neither the gold passage nor its title", q.ID, w)
				}
			}
		}
	}
}

func TestBadOptionsAndWriterErrors(t *testing.T) {
	for _, o := range []Options{{}, {Passages: 10, Train: -1}, {Passages: 10, ZipfS: -1}, {Passages: 10, TopicShare: 2}, {Passages: 10, WordsPerPassage: 3}} {
		if _, err := New(vocab(), o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New([]string{"a", "b", "C"}, Options{Passages: 10}); err == nil {
		t.Error("a 2-word vocabulary was accepted")
	}
	g := gen(t, Options{Passages: 50_000, Workers: 2})
	boom := errors.New("disk full")
	if err := g.WriteCorpus(t.Context(), failWriter{boom}, nil); !errors.Is(err, boom) {
		t.Errorf("write error: got %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := g.WriteCorpus(ctx, &bytes.Buffer{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
