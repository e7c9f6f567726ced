package analysis

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
)

// python is Debian's interpreter, which has PyStemmer (python3-stemmer) installed by setup.
const python = "/usr/bin/python3"

// runLines runs cmd with the lines on stdin and returns its output lines.
func runLines(t *testing.T, cmd *exec.Cmd, lines []string) []string {
	t.Helper()
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	got := strings.Split(string(out), "\n")
	if len(got) > 0 && got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	return got
}

// PyRef runs testdata/bm25s_ref.py (bm25s' rules + the real PyStemmer).
func PyRef(t *testing.T, args []string, lines []string) []string {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: run `scripts/setup.sh apt`", python)
	}
	ref, err := filepath.Abs("testdata/bm25s_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	return runLines(t, exec.CommandContext(t.Context(), python, append([]string{ref}, args...)...), lines)
}

var javaOnce struct {
	sync.Once
	dir, cp string
	err     error
}

// LuceneRef compiles (once per test binary) and runs testdata/LuceneRef.java against
// Debian's Lucene jars.
func LuceneRef(t *testing.T, args []string, lines []string) []string {
	t.Helper()
	javaOnce.Do(func() {
		var jars []string
		for _, p := range []string{"lucene-core-*.jar", "lucene-analyzers-common-*.jar"} {
			m, _ := filepath.Glob(filepath.Join("/usr/share/java", p))
			if len(m) == 0 {
				javaOnce.err = os.ErrNotExist
				return
			}
			sort.Strings(m)
			jars = append(jars, m[len(m)-1])
		}
		dir, err := os.MkdirTemp("", "lucene-ref-")
		if err != nil {
			javaOnce.err = err
			return
		}
		javaOnce.dir = dir
		javaOnce.cp = strings.Join(jars, ":")
		out, err := exec.Command("javac", "-cp", javaOnce.cp, "-d", dir, "testdata/LuceneRef.java").CombinedOutput()
		if err != nil {
			javaOnce.err = &exec.Error{Name: "javac: " + string(out), Err: err}
		}
	})
	if javaOnce.err != nil {
		t.Fatalf("Lucene reference unavailable (%v): run `scripts/setup.sh apt` (liblucene8-java, a JDK)", javaOnce.err)
	}
	return runLines(t, exec.CommandContext(t.Context(), "java", append([]string{"-cp", javaOnce.cp + ":" + javaOnce.dir, "LuceneRef"}, args...)...), lines)
}

// sharedTexts returns the QED passages and the QED and NQ questions (the texts the analyzers are
// checked on).
func sharedTexts(t *testing.T) []string {
	t.Helper()
	var texts []string
	for _, rel := range []string{"data/qed/corpus.jsonl", "data/qed/train.jsonl", "data/qed/test.jsonl", "data/nq-open/test.jsonl", "data/nq-open/dev.jsonl"} {
		f, err := os.Open(testenv.SharedFile(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.HasSuffix(rel, "corpus.jsonl") {
				d, err := schemas.DecodeCorpusDoc(sc.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				texts = append(texts, d.Contents)
				continue
			}
			q, err := schemas.DecodeQuery(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, q.Question)
		}
		f.Close()
	}
	return texts
}

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
	words := wordList(t, sharedTexts(t), splitBM25S)
	compareStems(t, "SnowballEnglish", words, PyRef(t, []string{"stem"}, words), SnowballEnglish)
}

// TestPorterMatchesLucene compares Porter with Lucene's PorterStemFilter on every word of QED
// and NQ (as the lucene analyzer splits them) and GloVe's vocabulary.
func TestPorterMatchesLucene(t *testing.T) {
	words := wordList(t, sharedTexts(t), splitLucene)
	compareStems(t, "Porter", words, LuceneRef(t, []string{"stem"}, words), Porter)
}

func b64Lines(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	return out
}

func compareAnalyzer(t *testing.T, a *Analyzer, texts, want []string) {
	t.Helper()
	if len(want) != len(texts) {
		t.Fatalf("reference returned %d lines for %d texts", len(want), len(texts))
	}
	bad := 0
	for i, s := range texts {
		var ref []string
		for _, f := range strings.Fields(want[i]) {
			b, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				t.Fatal(err)
			}
			ref = append(ref, string(b))
		}
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
	texts := sharedTexts(t)
	a, _ := ByName(BM25S)
	compareAnalyzer(t, a, texts, PyRef(t, []string{"analyze"}, b64Lines(texts)))
}

// TestLuceneAnalyzerMatchesLucene compares the lucene analyzer with Lucene's own analyzer chain
// on every QED passage and every QED and NQ question.
func TestLuceneAnalyzerMatchesLucene(t *testing.T) {
	texts := sharedTexts(t)
	a, _ := ByName(Lucene)
	compareAnalyzer(t, a, texts, LuceneRef(t, []string{"analyze"}, b64Lines(texts)))
}
