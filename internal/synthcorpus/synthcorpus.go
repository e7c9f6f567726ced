package synthcorpus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
)

// Options configure a Generator. Zero fields take the defaults noted.
type Options struct {
	Passages           int     // corpus size (required, > 0)
	Train, Test        int     // questions in the train and test files
	Seed               uint64  // PRNG seed
	WordsPerPassage    int     // words of a full passage (default 100, as wiki-18's 100w split)
	PassagesPerArticle int     // mean passages per article (default 4)
	TopicWords         int     // distinct topic words per article (default 20)
	TopicShare         float64 // share of a passage's words drawn from its topic words (default 0.15)
	ZipfS              float64 // Zipf exponent s (default 1)
	Workers            int     // goroutines for WriteCorpus (default GOMAXPROCS)
}

// Defaults of Options.
const (
	DefaultWordsPerPassage    = 100
	DefaultPassagesPerArticle = 4
	DefaultTopicWords         = 20
	DefaultTopicShare         = 0.15
	DefaultZipfS              = 1.0

	minTopicRank  = 300  // topic words and titles skip the function words
	minAnswerRank = 1000 // answers are content words when the passage has one
	questionWin   = 6    // words either side of the answer a question may use
	questionWords = 8    // at most this many window words in a question
	chunkPassages = 2048 // passages per WriteCorpus work unit
	minVocabulary = 2 * minAnswerRank
)

// PRNG stream tags: each kind of object has its own streams.
const (
	tagPassage uint64 = iota + 1
	tagArticle
	tagStart
	tagQuestion
)

// Generator produces the corpus and questions of one Options over one vocabulary. It is
// immutable and safe for concurrent use.
type Generator struct {
	o     Options
	words []string // kept vocabulary, rank order
	zipf  alias
}

// New keeps the lowercase ASCII words of ranked (most frequent first, as GloVe lists them)
// and builds the Zipf sampler.
func New(ranked []string, o Options) (*Generator, error) {
	if o.Passages <= 0 {
		return nil, fmt.Errorf("synthcorpus: passages = %d must be positive", o.Passages)
	}
	if o.Train < 0 || o.Test < 0 {
		return nil, fmt.Errorf("synthcorpus: question counts %d/%d must not be negative", o.Train, o.Test)
	}
	if o.WordsPerPassage == 0 {
		o.WordsPerPassage = DefaultWordsPerPassage
	}
	if o.PassagesPerArticle == 0 {
		o.PassagesPerArticle = DefaultPassagesPerArticle
	}
	if o.TopicWords == 0 {
		o.TopicWords = DefaultTopicWords
	}
	if o.TopicShare == 0 {
		o.TopicShare = DefaultTopicShare
	}
	if o.ZipfS == 0 {
		o.ZipfS = DefaultZipfS
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.WordsPerPassage < 2*questionWin || o.WordsPerPassage > 10_000:
		return nil, fmt.Errorf("synthcorpus: words per passage %d outside [%d, 10000]", o.WordsPerPassage, 2*questionWin)
	case o.PassagesPerArticle < 1:
		return nil, fmt.Errorf("synthcorpus: passages per article %d must be >= 1", o.PassagesPerArticle)
	case o.TopicWords < 1 || o.TopicWords > 1000:
		return nil, fmt.Errorf("synthcorpus: topic words %d outside [1, 1000]", o.TopicWords)
	case !(o.TopicShare >= 0 && o.TopicShare <= 1):
		return nil, fmt.Errorf("synthcorpus: topic share %g outside [0, 1]", o.TopicShare)
	case !(o.ZipfS > 0 && o.ZipfS <= 5):
		return nil, fmt.Errorf("synthcorpus: Zipf exponent %g outside (0, 5]", o.ZipfS)
	}
	var words []string
	for _, w := range ranked {
		if isLowerASCII(w) {
			words = append(words, w)
		}
	}
	if len(words) < minVocabulary {
		return nil, fmt.Errorf("synthcorpus: %d usable (lowercase ASCII) words, need at least %d", len(words), minVocabulary)
	}
	weights := make([]float64, len(words))
	for r := range weights {
		weights[r] = math.Pow(float64(r+1), -o.ZipfS)
	}
	return &Generator{o: o, words: words, zipf: newAlias(weights)}, nil
}

func isLowerASCII(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// Options returns the options with defaults filled in.
func (g *Generator) Options() Options { return g.o }

// Vocabulary is the number of words the generator draws from.
func (g *Generator) Vocabulary() int { return len(g.words) }

// Word returns the word of rank r (0-based) in the kept vocabulary.
func (g *Generator) Word(r int) string { return g.words[r] }

// isStart reports whether passage i opens an article: passage 0 does, any other with
// probability 1/PassagesPerArticle (geometric article lengths with that mean).
func (g *Generator) isStart(i int) bool {
	if i == 0 || g.o.PassagesPerArticle == 1 {
		return true
	}
	return mix(g.o.Seed, tagStart, uint64(i))%uint64(g.o.PassagesPerArticle) == 0
}

// article returns the first passage of the article holding passage i.
func (g *Generator) article(i int) int {
	for !g.isStart(i) {
		i--
	}
	return i
}

// topic is an article's title and topic words (vocabulary ranks).
type topic struct {
	title []int32
	words []int32
}

func (g *Generator) topic(start int) topic {
	r := newRNG(g.o.Seed, tagArticle, uint64(start))
	t := topic{words: make([]int32, g.o.TopicWords)}
	for k := range t.words {
		t.words[k] = g.drawMinRank(&r, minTopicRank)
	}
	t.title = make([]int32, 1+r.intn(3))
	for k := range t.title {
		t.title[k] = t.words[r.intn(len(t.words))]
	}
	return t
}

func (g *Generator) drawMinRank(r *rng, minRank int32) int32 {
	for {
		if w := g.zipf.draw(r); w >= minRank {
			return w
		}
	}
}

// passage is the word sequence of one passage: ranks, and the end (exclusive) of each sentence.
type passage struct {
	topic topic
	words []int32
	ends  []int
}

func (g *Generator) passage(i int, p *passage) {
	start := g.article(i)
	p.topic = g.topic(start)
	r := newRNG(g.o.Seed, tagPassage, uint64(i))
	n := g.o.WordsPerPassage
	if g.isStart(i + 1) {
		// The last chunk of an article is a remainder, as in wiki-18. (Passage i never depends
		// on Passages: a smaller corpus is a prefix of a larger one with the same seed.)
		n = questionWin*2 + r.intn(n-2*questionWin+1)
	}
	p.words, p.ends = p.words[:0], p.ends[:0]
	share := uint64(g.o.TopicShare * (1 << 32))
	sentence := 8 + r.intn(23)
	for k := range n {
		var w int32
		if r.next()&(1<<32-1) < share {
			w = p.topic.words[r.intn(len(p.topic.words))]
		} else {
			w = g.zipf.draw(&r)
		}
		p.words = append(p.words, w)
		if sentence--; sentence == 0 || k == n-1 {
			p.ends = append(p.ends, k+1)
			sentence = 8 + r.intn(23)
		}
	}
}

// appendTitle appends the article title: its words capitalized, separated by spaces.
func (g *Generator) appendTitle(b []byte, t topic) []byte {
	for k, w := range t.title {
		if k > 0 {
			b = append(b, ' ')
		}
		b = appendCapital(b, g.words[w])
	}
	return b
}

func appendCapital(b []byte, w string) []byte {
	b = append(b, w[0]-'a'+'A')
	return append(b, w[1:]...)
}

// appendText appends the passage text: sentences, capitalized, ending with a period.
func (g *Generator) appendText(b []byte, p *passage) []byte {
	s := 0
	for _, e := range p.ends {
		if s > 0 {
			b = append(b, ' ')
		}
		b = appendCapital(b, g.words[p.words[s]])
		for _, w := range p.words[s+1 : e] {
			b = append(b, ' ')
			b = append(b, g.words[w]...)
		}
		b = append(b, '.')
		s = e
	}
	return b
}

// Passage returns passage i's id and contents ("Title\ntext").
func (g *Generator) Passage(i int) (id, contents string) {
	var p passage
	g.passage(i, &p)
	b := g.appendTitle(nil, p.topic)
	b = append(b, '\n')
	return strconv.Itoa(i), string(g.appendText(b, &p))
}

// appendLine appends passage i as one corpus jsonl line. Words are lowercase ASCII letters,
// so the only character to escape is the title's newline.
func (g *Generator) appendLine(b []byte, i int, p *passage) []byte {
	g.passage(i, p)
	b = append(b, `{"id":"`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","contents":"`...)
	b = g.appendTitle(b, p.topic)
	b = append(b, `\n`...)
	b = g.appendText(b, p)
	return append(b, "\"}\n"...)
}

// WriteCorpus writes every passage as FlashRAG corpus jsonl, in ordinal order, generating
// chunks on Workers goroutines. progress, when not nil, is called with the number of passages
// written so far after each chunk.
func (g *Generator) WriteCorpus(ctx context.Context, w io.Writer, progress func(done int)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := g.o.Passages
	chunks := (n + chunkPassages - 1) / chunkPassages
	// In-order delivery with bounded memory: each chunk gets a 1-slot channel queued in
	// order; at most 2*Workers chunks are generated or waiting at once.
	order := make(chan chan []byte, 2*g.o.Workers)
	sem := make(chan struct{}, g.o.Workers)
	go func() {
		defer close(order)
		for c := range chunks {
			ch := make(chan []byte, 1)
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				var p passage
				buf := make([]byte, 0, chunkPassages*8*g.o.WordsPerPassage)
				for i := c * chunkPassages; i < min(n, (c+1)*chunkPassages); i++ {
					buf = g.appendLine(buf, i, &p)
				}
				ch <- buf
			}()
		}
	}()
	bw := bufio.NewWriterSize(w, 1<<20)
	done := 0
	var werr error
	for ch := range order {
		var buf []byte
		select {
		case buf = <-ch:
		case <-ctx.Done():
		}
		if werr != nil || ctx.Err() != nil {
			continue // drain until the producer stops
		}
		if _, err := bw.Write(buf); err != nil {
			werr = fmt.Errorf("synthcorpus: write corpus: %w", err)
			cancel()
			continue
		}
		done = min(n, done+chunkPassages)
		if progress != nil {
			progress(done)
		}
	}
	if werr != nil {
		return werr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synthcorpus: write corpus: %w", err)
	}
	return nil
}

// Question is one generated question.
type Question struct {
	ID       string
	Text     string
	Answer   string
	GoldID   string // the gold passage id
	GoldOrd  int    // the gold passage ordinal
	TestPart bool   // in the test file (else train)
}

// Question returns question j (0 <= j < Train+Test): train questions first, then test.
func (g *Generator) Question(j int) Question {
	r := newRNG(g.o.Seed, tagQuestion, uint64(j))
	gold := r.intn(g.o.Passages)
	var p passage
	g.passage(gold, &p)
	// The answer: a content word, uniformly among the positions that hold one.
	pos, seen := -1, 0
	for k, w := range p.words {
		if w >= minAnswerRank {
			if seen++; r.intn(seen) == 0 {
				pos = k
			}
		}
	}
	if pos < 0 {
		pos = r.intn(len(p.words))
	}
	ans := p.words[pos]
	b := []byte("what")
	if r.intn(2) == 0 {
		for _, w := range p.topic.title {
			if w == ans {
				continue
			}
			b = append(b, ' ')
			b = append(b, g.words[w]...)
		}
	}
	lo, hi := max(0, pos-questionWin), min(len(p.words), pos+questionWin+1)
	used := 0
	for k := lo; k < hi && used < questionWords; k++ {
		if k == pos || p.words[k] == ans {
			continue
		}
		b = append(b, ' ')
		b = append(b, g.words[p.words[k]]...)
		used++
	}
	q := Question{Text: string(b), Answer: g.words[ans], GoldID: strconv.Itoa(gold), GoldOrd: gold}
	if j < g.o.Train {
		q.ID = "synth-train-" + strconv.Itoa(j)
	} else {
		q.ID, q.TestPart = "synth-test-"+strconv.Itoa(j-g.o.Train), true
	}
	return q
}

// appendQuestionLine appends q as a FlashRAG dataset jsonl line (plus gold_doc_ids).
func appendQuestionLine(b []byte, q Question) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, q.ID...)
	b = append(b, `","question":"`...)
	b = append(b, q.Text...)
	b = append(b, `","golden_answers":["`...)
	b = append(b, q.Answer...)
	b = append(b, `"],"gold_doc_ids":["`...)
	b = append(b, q.GoldID...)
	return append(b, "\"]}\n"...)
}

// WriteQuestions writes the train questions to train and the test questions to test.
func (g *Generator) WriteQuestions(ctx context.Context, train, test io.Writer) error {
	for part, w := range []io.Writer{train, test} {
		lo, hi := 0, g.o.Train
		if part == 1 {
			lo, hi = g.o.Train, g.o.Train+g.o.Test
		}
		bw := bufio.NewWriter(w)
		var b []byte
		for j := lo; j < hi; j++ {
			if j%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			b = appendQuestionLine(b[:0], g.Question(j))
			if _, err := bw.Write(b); err != nil {
				return fmt.Errorf("synthcorpus: write questions: %w", err)
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("synthcorpus: write questions: %w", err)
		}
	}
	return nil
}

// rng is splitmix64: small, fast and good enough for text; one stream per object.
type rng struct{ s uint64 }

func newRNG(seed, tag, i uint64) rng { return rng{s: mix(seed, tag, i)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn is uniform on [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for the n here).
func (r *rng) intn(n int) int {
	return int((r.next() >> 32) * uint64(n) >> 32)
}

// mix hashes (seed, tag, i) into a stream seed.
func mix(seed, tag, i uint64) uint64 {
	r := rng{s: seed ^ tag*0xd1b54a32d192ed03}
	r.s ^= r.next() + i*0x8cb92ba72f3d8dd7
	return r.next()
}

// alias is Vose's alias table: O(1) draws from a fixed discrete distribution.
type alias struct {
	prob  []uint32 // threshold scaled to 2^32: keep the column below it
	other []int32
}

func newAlias(weights []float64) alias {
	n := len(weights)
	var sum float64
	for _, w := range weights {
		sum += w
	}
	scaled := make([]float64, n)
	var small, large []int32
	for i, w := range weights {
		scaled[i] = w * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	a := alias{prob: make([]uint32, n), other: make([]int32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = uint32(scaled[s] * (1 << 32))
		a.other[s] = l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is 1 up to rounding: keep the column whole.
	for _, i := range append(small, large...) {
		a.prob[i] = math.MaxUint32
		a.other[i] = i
	}
	return a
}

func (a *alias) draw(r *rng) int32 {
	x := r.next()
	col := int32((x >> 32) * uint64(len(a.prob)) >> 32)
	if uint32(x) < a.prob[col] {
		return col
	}
	return a.other[col]
}
